//! AMD SVM, the vendor layer: one VMCB per vCPU, entry through `svm_enter`, exits
//! decoded into the common [`Exit`] (AMD APM Vol. 2 chapter 15; VMCB layout in
//! appendix B, exit codes in appendix C).
//!
//! Interrupts: the host runs with `RFLAGS.IF` = 0 and enters the guest with IF = 1
//! under a cleared global interrupt flag, so a physical interrupt exits (INTR
//! intercept) and stays pending; the exit path takes it (`apic::take_pending`). The
//! guest's own IF masks only virtual interrupts (`V_INTR_MASKING`).
//!
//! Instruction lengths come from the VMCB's next-RIP where the CPU has NRIPS, else the
//! fixed length of the intercepted instruction's encoding (QEMU's TCG has no NRIPS):
//! CPUID, RDMSR, WRMSR, WBINVD, INVD 2 bytes; VMMCALL, XSETBV 3. I/O exits always give
//! the next RIP.

use core::arch::{asm, global_asm};

use bulkhead_core::addr::GuestPhysAddr;
use x86_64::registers::model_specific::Msr;

use super::setup::Part;
use super::vcpu::{start_state, Event, Exit, GuestRegs, Segment, Vendor, AR_TSS, EFER_LMA, PAT_RESET};
use super::{cpu, Page};
use crate::decode::Mode;
use crate::npt::Npt;
use crate::vmcb::{attrib, control as c, event, exit, misc1, misc2, save as s, vintr};

extern "C" {
    /// Enters the guest of the VMCB at `vmcb` with `regs` (VMLOAD, VMRUN, VMSAVE) and
    /// returns after its exit, the host's VMLOAD state back from `host`.
    fn svm_enter(regs: *mut GuestRegs, vmcb: u64, host: u64);
}

global_asm!(
    r#"
.section .text
.global svm_enter
svm_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    push rdx
    push rsi
    mov rax, rsi
    mov rcx, [rdi + 8]
    mov rdx, [rdi + 16]
    mov rbx, [rdi + 24]
    mov rbp, [rdi + 32]
    mov rsi, [rdi + 40]
    mov r8, [rdi + 56]
    mov r9, [rdi + 64]
    mov r10, [rdi + 72]
    mov r11, [rdi + 80]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rdi, [rdi + 48]
    clgi
    vmload rax
    sti
    vmrun rax
    push rdi
    mov rdi, [rsp + 24]
    mov [rdi + 8], rcx
    mov [rdi + 16], rdx
    mov [rdi + 24], rbx
    mov [rdi + 32], rbp
    mov [rdi + 40], rsi
    pop rax
    mov [rdi + 48], rax
    mov [rdi + 56], r8
    mov [rdi + 64], r9
    mov [rdi + 72], r10
    mov [rdi + 80], r11
    mov [rdi + 88], r12
    mov [rdi + 96], r13
    mov [rdi + 104], r14
    mov [rdi + 112], r15
    pop rax
    vmsave rax
    pop rax
    vmload rax
    cli
    stgi
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
"#
);

/// MSRs: EFER, VM_CR, VM_HSAVE_PA.
const EFER: u32 = 0xc000_0080;
const VM_CR: u32 = 0xc001_0114;
const VM_HSAVE_PA: u32 = 0xc001_0117;
/// EFER.NXE (nested tables use NX), EFER.SVME.
const EFER_NXE: u64 = 1 << 11;
const EFER_SVME: u64 = 1 << 12;
/// LDTR's start value: present, type LDT.
const AR_LDT: u32 = 0x82;

/// What the CPU's SVM offers, read once on the boot CPU.
#[derive(Clone, Copy)]
pub struct Features {
    /// The nested-paging format for this CPU's physical-address width and page sizes.
    pub npt: Npt,
    /// Number of ASIDs (ASID 0 is the host's).
    pub asids: u16,
    /// The VMCB reports the next RIP on instruction intercepts.
    nrips: bool,
}

impl Features {
    /// Reads CPUID; `Err` says why SVM cannot be used.
    pub fn probe() -> Result<Self, &'static str> {
        use core::arch::x86_64::__cpuid;
        let max_ext = __cpuid(0x8000_0000).eax;
        if max_ext < 0x8000_000a || __cpuid(0x8000_0001).ecx & (1 << 2) == 0 {
            return Err("the CPU has neither VMX nor SVM");
        }
        // Some emulators (Bochs) lack VM_CR; then nothing disabled SVM either.
        if cpu::try_rdmsr(VM_CR).is_some_and(|v| v & (1 << 4) != 0) {
            return Err("the firmware disabled SVM (VM_CR.SVMDIS)");
        }
        let svm = __cpuid(0x8000_000a);
        if svm.edx & 1 == 0 {
            return Err("the CPU's SVM lacks nested paging");
        }
        let phys_bits = if max_ext >= 0x8000_0008 { __cpuid(0x8000_0008).eax & 0xff } else { 36 };
        let pages_1g = __cpuid(0x8000_0001).edx & (1 << 26) != 0;
        let npt = Npt::with(phys_bits, pages_1g).ok_or("the CPU reports an unusable physical-address width")?;
        Ok(Self { npt, asids: svm.ebx.clamp(2, 0xffff) as u16, nrips: svm.edx & (1 << 3) != 0 })
    }
}

/// Turns SVM on for this CPU and gives it its host save area.
///
/// # Safety
/// Once per CPU, after [`Features::probe`] succeeded on the boot CPU, interrupts off.
pub unsafe fn enable() {
    let mut efer = Msr::new(EFER);
    // SAFETY: SVME makes the SVM instructions usable and NXE makes bit 63 of nested
    // entries mean no-execute; the hypervisor's own page tables set no NX bits. The
    // host save area is a fresh page of the hypervisor's for ever.
    unsafe {
        efer.write(efer.read() | EFER_SVME | EFER_NXE);
        Msr::new(VM_HSAVE_PA).write(Page::leak().phys());
    }
}

/// One vCPU's SVM state.
pub struct Svm {
    vmcb: &'static mut Page,
    /// This CPU's host state for VMLOAD after an exit (TR, FS, GS, the SYSCALL MSRs).
    host: &'static Page,
    nrips: bool,
    /// Flush the TLB at the next entry (after a reset).
    flush: bool,
    /// The last exit: code, EXITINFO1.
    code: u64,
    info1: u64,
}

impl Svm {
    /// A VMCB for a vCPU of `part` on this CPU.
    pub fn new(part: &Part, features: Features) -> Self {
        let host = Page::leak();
        // SAFETY: VMSAVE stores this CPU's current FS, GS, TR, LDTR and SYSCALL/SYSENTER
        // state into a fresh page of the hypervisor's; SVM is enabled on this CPU.
        unsafe { asm!("vmsave rax", in("rax") host.phys()) };
        let mut me = Self { vmcb: Page::leak(), host, nrips: features.nrips, flush: true, code: 0, info1: 0 };
        let intercept1 = misc1::INTR
            | misc1::NMI
            | misc1::INIT
            | misc1::RDPMC
            | misc1::CPUID
            | misc1::INVD
            | misc1::INVLPGA
            | misc1::IOIO
            | misc1::MSR
            | misc1::TASK_SWITCH
            | misc1::SHUTDOWN;
        let intercept2 = misc2::VMRUN
            | misc2::VMMCALL
            | misc2::VMLOAD
            | misc2::VMSAVE
            | misc2::STGI
            | misc2::CLGI
            | misc2::SKINIT
            | misc2::WBINVD
            | misc2::MONITOR
            | misc2::MWAIT
            | misc2::XSETBV;
        // CR4 writes: checked against what the partition is shown, as VMX does for the
        // bits it pins (a reserved bit would otherwise fail VMRUN's state checks on some
        // CPUs and emulators rather than raise #GP).
        me.vmcb.0[c::INTERCEPT_CR_WRITE..c::INTERCEPT_CR_WRITE + 2].copy_from_slice(&(1u16 << 4).to_le_bytes());
        // #UD: VMCALL, Intel's hypercall instruction, is one here too.
        me.w32(c::INTERCEPT_EXCEPTIONS, 1 << 6);
        me.w32(c::INTERCEPT_MISC1, intercept1);
        me.w32(c::INTERCEPT_MISC2, intercept2);
        me.w64(c::IOPM_BASE, part.io_map);
        me.w64(c::MSRPM_BASE, part.msr_map);
        me.w32(c::ASID, u32::from(part.tag));
        me.w64(c::V_INTR, vintr::MASKING);
        me.w64(c::NP_ENABLE, 1);
        me.w64(c::N_CR3, part.nested_root);
        me
    }

    fn r64(&self, at: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.vmcb.0[at..at + 8]);
        u64::from_le_bytes(b)
    }

    fn w64(&mut self, at: usize, value: u64) {
        self.vmcb.0[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn r32(&self, at: usize) -> u32 {
        self.r64(at) as u32
    }

    fn w32(&mut self, at: usize, value: u32) {
        self.vmcb.0[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn segment(&mut self, at: usize, v: Segment) {
        self.vmcb.0[at..at + 2].copy_from_slice(&v.selector.to_le_bytes());
        self.vmcb.0[at + 2..at + 4].copy_from_slice(&attrib(v.access).to_le_bytes());
        self.w32(at + 4, v.limit);
        self.w64(at + 8, v.base);
    }

    /// The intercepted instruction's length: next-RIP if the CPU reports it, else the
    /// length of its only encoding.
    fn len(&self, fixed: u8) -> u8 {
        if self.nrips {
            self.r64(c::NEXT_RIP).wrapping_sub(self.rip()) as u8
        } else {
            fixed
        }
    }

    /// An event being delivered when the exit happened is delivered again on entry
    /// (a software interrupt is not: its instruction runs again).
    fn reinject(&mut self) {
        let info = self.r64(c::EXIT_INT_INFO);
        if info & event::VALID != 0 && info & event::TYPE_MASK != event::SOFTWARE_INT {
            self.w64(c::EVENT_INJ, info);
        }
    }
}

impl Vendor for Svm {
    fn enter(&mut self, regs: &mut GuestRegs) -> Result<(), &'static str> {
        self.w64(s::RAX, regs.gpr[0]);
        // TLB_CONTROL 1 flushes every ASID (the one operation every SVM CPU has): after
        // a reset, the old run's translations must not survive.
        self.vmcb.0[c::TLB_CONTROL] = u8::from(self.flush);
        self.flush = false;
        // SAFETY: SVM is on for this CPU with its host save area; the VMCB is complete
        // (new + reset) and this vCPU's alone; `host` holds this CPU's VMSAVE state;
        // `regs` outlives the call. Invalid guest state exits with VMEXIT_INVALID.
        unsafe { svm_enter(regs, self.vmcb.phys(), self.host.phys()) };
        regs.gpr[0] = self.r64(s::RAX);
        Ok(())
    }

    fn exit(&mut self, _regs: &GuestRegs) -> Exit {
        self.code = self.r64(c::EXIT_CODE);
        self.info1 = self.r64(c::EXIT_INFO1);
        let info2 = self.r64(c::EXIT_INFO2);
        self.w64(c::EVENT_INJ, 0);
        self.reinject();
        let q = self.info1;
        match self.code {
            exit::INTR => Exit::Interrupt(None),
            exit::NMI | exit::INIT => Exit::Nothing,
            exit::VINTR => Exit::Window,
            exit::CPUID => Exit::Cpuid(self.len(2)),
            exit::MSR if q & 1 == 0 => Exit::Rdmsr(self.len(2)),
            exit::MSR => Exit::Wrmsr(self.len(2)),
            exit::XSETBV => Exit::Xsetbv(self.len(3)),
            exit::CR4_WRITE => Exit::MovToCr(4),
            exit::VMMCALL => Exit::Hypercall(self.len(3)),
            exit::EXCEPTION_UD => Exit::InvalidOpcode,
            exit::IOIO => Exit::Io {
                port: (q >> 16) as u16,
                size: match (q >> 4) & 7 {
                    1 => 1,
                    2 => 2,
                    _ => 4,
                },
                input: q & 1 != 0,
                string: q & (1 << 2) != 0,
                len: info2.wrapping_sub(self.rip()) as u8,
            },
            exit::NPF => Exit::Fault { gpa: info2, write: q & (1 << 1) != 0, fetch: q & (1 << 4) != 0 },
            exit::WBINVD | exit::INVD => Exit::Skip(self.len(2)),
            exit::VMRUN..=exit::SKINIT | exit::INVLPGA | exit::RDPMC | exit::MONITOR | exit::MWAIT => Exit::Undefined,
            exit::SHUTDOWN => Exit::Stop("shutdown (a triple fault)"),
            exit::TASK_SWITCH => Exit::Stop("a hardware task switch"),
            // -1, stored as 64 or (QEMU) 32 bits.
            exit::INVALID | 0xffff_ffff => Exit::Stop("VMRUN refused the guest state"),
            _ => Exit::Stop("an unexpected VM exit"),
        }
    }

    fn syndrome(&self) -> u64 {
        (self.code & 0xffff) | (self.info1 << 16)
    }

    fn rip(&self) -> u64 {
        self.r64(s::RIP)
    }

    fn set_rip(&mut self, rip: u64) {
        self.w64(s::RIP, rip);
    }

    fn rsp(&self) -> u64 {
        self.r64(s::RSP)
    }

    fn set_rsp(&mut self, rsp: u64) {
        self.w64(s::RSP, rsp);
    }

    fn can_inject(&self) -> bool {
        let busy = self.r64(c::EVENT_INJ) & event::VALID != 0;
        let if_set = self.r64(s::RFLAGS) & (1 << 9) != 0;
        let shadow = self.r64(c::INTERRUPT_SHADOW) & 1 != 0;
        !busy && if_set && !shadow
    }

    fn inject(&mut self, e: Event) {
        let info = match e {
            Event::Interrupt(v) => event::VALID | u64::from(v),
            Event::Exception(v, None) => event::VALID | event::EXCEPTION | u64::from(v),
            Event::Exception(v, Some(code)) => {
                event::VALID | event::EXCEPTION | event::ERROR_CODE | u64::from(v) | (u64::from(code) << 32)
            }
        };
        self.w64(c::EVENT_INJ, info);
    }

    fn interrupt_window(&mut self, on: bool) {
        let request = vintr::V_IRQ | vintr::PRIO_HIGHEST | vintr::IGNORE_TPR;
        let v = self.r64(c::V_INTR);
        let intercepts = self.r32(c::INTERCEPT_MISC1);
        if on {
            self.w64(c::V_INTR, v | request);
            self.w32(c::INTERCEPT_MISC1, intercepts | misc1::VINTR);
        } else {
            self.w64(c::V_INTR, v & !request);
            self.w32(c::INTERCEPT_MISC1, intercepts & !misc1::VINTR);
        }
    }

    fn clear_shadow(&mut self) {
        self.w64(c::INTERRUPT_SHADOW, 0);
    }

    fn cpl(&self) -> u8 {
        self.vmcb.0[s::CPL] & 3
    }

    fn cr0(&self) -> u64 {
        self.r64(s::CR0)
    }

    fn cr3(&self) -> u64 {
        self.r64(s::CR3)
    }

    fn efer(&self) -> u64 {
        self.r64(s::EFER) & !EFER_SVME
    }

    fn set_cr0(&mut self, value: u64) {
        self.w64(s::CR0, value);
    }

    fn set_cr4(&mut self, value: u64) {
        self.w64(s::CR4, value);
    }

    fn set_efer(&mut self, value: u64) {
        // LMA is the CPU's to change (CR0.PG with LME); SVME must stay set for VMRUN.
        let lma = self.r64(s::EFER) & EFER_LMA;
        self.w64(s::EFER, (value & !EFER_LMA) | lma | EFER_SVME);
    }

    fn code(&self) -> (Mode, u64) {
        let at = s::CS + 2;
        let attr = u16::from_le_bytes([self.vmcb.0[at], self.vmcb.0[at + 1]]);
        let mode = if attr & (1 << 9) != 0 && self.efer() & EFER_LMA != 0 {
            Mode::Long
        } else if attr & (1 << 10) != 0 {
            Mode::Protected32
        } else {
            Mode::Real16
        };
        (mode, self.r64(s::CS + 8))
    }

    fn reset(&mut self, entry: GuestPhysAddr, protected: bool) {
        // Everything the guest had, including what VMLOAD/VMSAVE keep, goes.
        self.vmcb.0[s::ES..].fill(0);
        let start = start_state(entry, protected);
        self.segment(s::CS, start.cs);
        for at in [s::DS, s::ES, s::SS, s::FS, s::GS] {
            self.segment(at, start.data);
        }
        let table = Segment { selector: 0, base: 0, limit: 0xffff, access: 0 };
        self.segment(s::GDTR, table);
        self.segment(s::IDTR, table);
        self.segment(s::LDTR, Segment { access: AR_LDT, ..table });
        self.segment(s::TR, Segment { access: AR_TSS, ..table });
        self.w64(s::CR0, start.cr0);
        self.w64(s::EFER, EFER_SVME);
        self.w64(s::RIP, start.rip);
        self.w64(s::RFLAGS, 0x2);
        self.w64(s::DR6, 0xffff_0ff0);
        self.w64(s::DR7, 0x400);
        self.w64(s::G_PAT, PAT_RESET);
        self.w64(c::EVENT_INJ, 0);
        self.w64(c::INTERRUPT_SHADOW, 0);
        self.interrupt_window(false);
        self.flush = true;
    }
}

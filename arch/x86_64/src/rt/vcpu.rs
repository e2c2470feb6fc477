//! The x86 vCPU: its VMCS, guest registers, entry through `vmx_enter`, and the loop
//! that turns VM exits into core's arch-neutral [`VmExit`]s.
//!
//! One vCPU owns one physical CPU: guest state the hypervisor does not need (FPU/SSE/AVX
//! registers, XCR0, CR2, the SYSCALL MSRs, debug registers) stays live in the hardware
//! across exits, and the hypervisor, built soft-float, never touches it. An exit saves
//! the general-purpose registers only; RSP, RIP and RFLAGS live in the VMCS.

use core::arch::global_asm;

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::vcpu::{ArchVcpu, VmExit};

use super::exits::Pending;
use super::setup::Part;
use super::vmx::{self, Field};
use super::{apic, cpu};
use crate::vlapic::VLapic;
use crate::vmcs::{adjust, entry, exit, field, inject, msr, pin, proc, proc2};

/// Guest general-purpose registers other than RSP; the layout is `vmx_enter`'s.
#[repr(C)]
#[derive(Default)]
pub struct GuestRegs {
    /// RAX, RCX, RDX, RBX, RBP, RSI, RDI, R8..R15.
    pub gpr: [u64; 15],
}

impl GuestRegs {
    /// Register `n` in the instruction encoding's numbering (0 = RAX … 15 = R15; 4 =
    /// RSP lives in the VMCS).
    pub fn get(&self, n: u8) -> u64 {
        match n {
            0..=3 => self.gpr[usize::from(n)],
            4 => field::GUEST_RSP.read(),
            5..=15 => self.gpr[usize::from(n) - 1],
            _ => 0,
        }
    }

    /// Sets register `n`.
    pub fn set(&mut self, n: u8, value: u64) {
        match n {
            0..=3 => self.gpr[usize::from(n)] = value,
            4 => field::GUEST_RSP.write(value),
            5..=15 => self.gpr[usize::from(n) - 1] = value,
            _ => {}
        }
    }
}

extern "C" {
    /// Enters the guest (VMLAUNCH when `launched` is 0, else VMRESUME) with `regs`;
    /// returns 0 after a VM exit, 1 if the VM instruction itself failed.
    fn vmx_enter(regs: *mut GuestRegs, launched: u64) -> u64;
    /// Where a VM exit lands (HOST_RIP).
    fn vmx_exit();
}

global_asm!(
    r#"
.section .text
.global vmx_enter
vmx_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov rax, 0x6c14
    vmwrite rax, rsp
    test rsi, rsi
    mov rax, [rdi]
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
    jnz 2f
    vmlaunch
    jmp 3f
2:  vmresume
3:  add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    mov eax, 1
    ret

.global vmx_exit
vmx_exit:
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi], rax
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
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax
    ret
"#
);

/// CR0 bits: PE, ET, NE, PG.
const CR0_PE: u64 = 1 << 0;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_PG: u64 = 1 << 31;
/// EFER.LMA.
const EFER_LMA: u64 = 1 << 10;
/// Segment access rights: 32-bit code (G, D, P, S, execute/read, accessed), data (G,
/// D/B, P, S, read/write, accessed), 16-bit code and data for real mode, a busy 32-bit
/// TSS, and "unusable" (SDM Vol. 3C 25.4.1).
const AR_CODE32: u32 = 0xc09b;
const AR_DATA32: u32 = 0xc093;
const AR_CODE16: u32 = 0x9b;
const AR_DATA16: u32 = 0x93;
const AR_TSS: u32 = 0x8b;
const AR_UNUSABLE: u32 = 0x1_0000;
/// The reset value of IA32_PAT.
const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// Control values for every VMCS on this machine, worked out once.
#[derive(Clone, Copy)]
pub struct Controls {
    pin: u32,
    proc: u32,
    proc2: u32,
    exit: u32,
    entry: u32,
    cr0_mask: u64,
    cr4_mask: u64,
    cr0_fixed: (u64, u64),
    cr4_fixed: (u64, u64),
}

impl Controls {
    /// Reads the capability MSRs; `Err` names a control the CPU cannot provide.
    pub fn probe() -> Result<Self, &'static str> {
        let true_caps = vmx::has_true_controls();
        let cap = |plain: u32, tru: u32| vmx::cap(if true_caps { tru } else { plain });
        let (pin, _) = adjust(pin::EXTERNAL_INTERRUPT | pin::NMI | pin::VIRTUAL_NMI, cap(msr::PINBASED, msr::TRUE_PINBASED));
        let want = proc::IO_BITMAPS | proc::MSR_BITMAPS | proc::SECONDARY | proc::MWAIT | proc::MONITOR | proc::RDPMC;
        let (proc, missing) = adjust(want, cap(msr::PROCBASED, msr::TRUE_PROCBASED));
        if missing != 0 {
            return Err("the CPU cannot exit on I/O, MSRs, MWAIT, MONITOR or RDPMC");
        }
        let want2 = proc2::EPT | proc2::VPID | proc2::UNRESTRICTED_GUEST | proc2::WBINVD | proc2::RDTSCP | proc2::INVPCID;
        let (proc2, missing2) = adjust(want2, vmx::cap(msr::PROCBASED2));
        if missing2 & (proc2::EPT | proc2::UNRESTRICTED_GUEST | proc2::WBINVD) != 0 {
            return Err("the CPU lacks EPT, unrestricted guests or WBINVD exiting");
        }
        let want_exit = exit::HOST_ADDRESS_SPACE | exit::ACK_INTERRUPT | exit::SAVE_PAT | exit::LOAD_PAT | exit::SAVE_EFER | exit::LOAD_EFER;
        let (exit_ctls, missing_exit) = adjust(want_exit, cap(msr::EXIT, msr::TRUE_EXIT));
        let (entry_ctls, missing_entry) = adjust(entry::LOAD_PAT | entry::LOAD_EFER, cap(msr::ENTRY, msr::TRUE_ENTRY));
        if missing_exit | missing_entry != 0 {
            return Err("the CPU cannot switch EFER and PAT on VM entry and exit");
        }
        let cr0_fixed = (vmx::cap(msr::CR0_FIXED0) & !(CR0_PE | CR0_PG), vmx::cap(msr::CR0_FIXED1));
        let cr4_fixed = (vmx::cap(msr::CR4_FIXED0), vmx::cap(msr::CR4_FIXED1));
        Ok(Self {
            pin,
            proc,
            proc2,
            exit: exit_ctls,
            entry: entry_ctls,
            // The guest owns every CR bit VMX does not pin: the pinned ones exit.
            cr0_mask: cr0_fixed.0 | !cr0_fixed.1,
            cr4_mask: cr4_fixed.0 | !cr4_fixed.1,
            cr0_fixed,
            cr4_fixed,
        })
    }

    /// `value` as the hardware must hold it: the fixed-1 bits set, fixed-0 bits clear.
    pub fn cr0(&self, value: u64) -> u64 {
        (value | self.cr0_fixed.0) & self.cr0_fixed.1
    }

    /// The same for CR4.
    pub fn cr4(&self, value: u64) -> u64 {
        (value | self.cr4_fixed.0) & self.cr4_fixed.1
    }
}

/// One vCPU of a partition, pinned to the current physical CPU.
pub struct Vcpu {
    pub(super) regs: GuestRegs,
    pub(super) part: &'static Part,
    pub(super) index: usize,
    pub(super) lapic: VLapic,
    pub(super) ctl: Controls,
    launched: bool,
    /// The physical TSC deadline programmed for this vCPU's virtual timer.
    armed: u64,
    /// What the last exit left for core's answer.
    pub(super) pending: Pending,
    /// The last exit's basic reason and qualification, for reports.
    pub(super) reason: u16,
    pub(super) qualification: u64,
}

impl Vcpu {
    /// vCPU `index` of `part`, with its VMCS built and current on this CPU.
    pub fn new(part: &'static Part, index: usize, ctl: Controls, host: (u64, u64)) -> Result<Self, &'static str> {
        let vmcs = vmx::new_vmcs()?;
        // SAFETY: a fresh VMCS of this vCPU, which only this CPU ever runs.
        unsafe { vmx::load(vmcs)? };
        host_state(host);
        control_state(part, &ctl);
        Ok(Self {
            regs: GuestRegs::default(),
            part,
            index,
            lapic: VLapic::new(index as u32),
            ctl,
            launched: false,
            armed: 0,
            pending: Pending::None,
            reason: 0,
            qualification: 0,
        })
    }

    /// Everything due before the next entry: interrupts from other CPUs, an expired
    /// timer, an interrupt to inject (or a window to wait for), the physical deadline,
    /// and the IA-32e entry control following the guest's EFER.LMA.
    fn prepare(&mut self) {
        if let Some(inbox) = self.part.inboxes.get(self.index) {
            self.lapic.merge(inbox);
        }
        let now = apic::tsc();
        if self.lapic.deadline().is_some_and(|d| d <= now) {
            self.lapic.expire(now);
        }
        self.inject_interrupt();
        let deadline = self.lapic.deadline().unwrap_or(0);
        if deadline != self.armed {
            apic::set_deadline(deadline);
            self.armed = deadline;
        }
        let lma = field::GUEST_IA32_EFER.read() & EFER_LMA != 0;
        let entry_ctls = field::ENTRY_CONTROLS.read();
        if (entry_ctls & entry::IA32E_GUEST != 0) != lma {
            field::ENTRY_CONTROLS.write(entry_ctls ^ entry::IA32E_GUEST);
        }
    }

    /// Injects the highest pending interrupt if the guest can take one now, else asks
    /// for an exit when it can (SDM Vol. 3C 26.6 "Event injection").
    fn inject_interrupt(&mut self) {
        let Some(vector) = self.lapic.pending() else { return };
        let busy = field::ENTRY_INTERRUPTION_INFO.read() & inject::VALID != 0;
        let if_set = field::GUEST_RFLAGS.read() & (1 << 9) != 0;
        let blocked = field::GUEST_INTERRUPTIBILITY.read() & 3 != 0;
        if busy || !if_set || blocked {
            set_proc(proc::INTERRUPT_WINDOW, true);
            return;
        }
        field::ENTRY_INTERRUPTION_INFO.write(inject::VALID | inject::EXTERNAL | u32::from(vector));
        field::GUEST_ACTIVITY_STATE.write(0); // a halted vCPU wakes to take it
        self.lapic.ack(vector);
    }

    /// Makes the guest take exception `vector` (with `error` code) at its current RIP.
    pub(super) fn inject_exception(&mut self, vector: u8, error: Option<u32>) {
        let mut info = inject::VALID | inject::EXCEPTION | u32::from(vector);
        if let Some(code) = error {
            info |= inject::ERROR_CODE;
            field::ENTRY_EXCEPTION_ERROR_CODE.write(code);
        }
        field::ENTRY_INTERRUPTION_INFO.write(info);
    }

    /// Steps RIP past the instruction that exited, by its length.
    pub(super) fn skip(&mut self, len: u64) {
        field::GUEST_RIP.write(field::GUEST_RIP.read() + len);
        // Stepping past an instruction ends any STI / MOV SS blocking it caused.
        let blocking = field::GUEST_INTERRUPTIBILITY.read();
        if blocking & 3 != 0 {
            field::GUEST_INTERRUPTIBILITY.write(blocking & !3);
        }
    }

    /// The architectural state of vCPU 0 at entry (doc/x86.md): 32-bit protected mode,
    /// flat 4 GiB segments, paging off, ESI = `arg`.
    fn reset_protected(&mut self, entry: GuestPhysAddr, arg: u64) {
        let seg = |sel: crate::vmcs::F16, base: crate::vmcs::FN, limit: crate::vmcs::F32, ar: crate::vmcs::F32, s: u16, a: u32| {
            sel.write(s);
            base.write(0);
            limit.write(0xffff_ffff);
            ar.write(a);
        };
        seg(field::GUEST_CS_SELECTOR, field::GUEST_CS_BASE, field::GUEST_CS_LIMIT, field::GUEST_CS_AR, 0x10, AR_CODE32);
        for (sel, base, limit, ar) in data_segments() {
            seg(sel, base, limit, ar, 0x18, AR_DATA32);
        }
        self.set_control_registers(CR0_PE | CR0_ET | CR0_NE);
        field::GUEST_RIP.write(entry.as_u64());
        self.regs.set(6, arg); // ESI: the zero page
    }

    /// An AP started by a SIPI: real mode at `entry` (the vector's page), CS = page >> 4.
    fn reset_real(&mut self, entry: GuestPhysAddr) {
        let page = entry.as_u64();
        field::GUEST_CS_SELECTOR.write((page >> 4) as u16);
        field::GUEST_CS_BASE.write(page);
        field::GUEST_CS_LIMIT.write(0xffff);
        field::GUEST_CS_AR.write(AR_CODE16);
        for (sel, base, limit, ar) in data_segments() {
            sel.write(0);
            base.write(0);
            limit.write(0xffff);
            ar.write(AR_DATA16);
        }
        self.set_control_registers(CR0_ET | CR0_NE);
        field::GUEST_RIP.write(0);
    }

    fn set_control_registers(&mut self, cr0: u64) {
        field::GUEST_CR0.write(self.ctl.cr0(cr0));
        field::CR0_READ_SHADOW.write(cr0);
        field::GUEST_CR4.write(self.ctl.cr4(0));
        field::CR4_READ_SHADOW.write(0);
        field::GUEST_CR3.write(0);
        field::GUEST_IA32_EFER.write(0);
        field::GUEST_IA32_PAT.write(PAT_RESET);
        let entry_ctls = field::ENTRY_CONTROLS.read();
        field::ENTRY_CONTROLS.write(entry_ctls & !entry::IA32E_GUEST);
    }
}

fn data_segments() -> [(crate::vmcs::F16, crate::vmcs::FN, crate::vmcs::F32, crate::vmcs::F32); 5] {
    [
        (field::GUEST_DS_SELECTOR, field::GUEST_DS_BASE, field::GUEST_DS_LIMIT, field::GUEST_DS_AR),
        (field::GUEST_ES_SELECTOR, field::GUEST_ES_BASE, field::GUEST_ES_LIMIT, field::GUEST_ES_AR),
        (field::GUEST_SS_SELECTOR, field::GUEST_SS_BASE, field::GUEST_SS_LIMIT, field::GUEST_SS_AR),
        (field::GUEST_FS_SELECTOR, field::GUEST_FS_BASE, field::GUEST_FS_LIMIT, field::GUEST_FS_AR),
        (field::GUEST_GS_SELECTOR, field::GUEST_GS_BASE, field::GUEST_GS_LIMIT, field::GUEST_GS_AR),
    ]
}

/// Sets or clears primary processor-based control `bit`.
pub(super) fn set_proc(bit: u32, on: bool) {
    let v = field::PROC_BASED_CONTROLS.read();
    let new = if on { v | bit } else { v & !bit };
    if new != v {
        field::PROC_BASED_CONTROLS.write(new);
    }
}

/// The host state a VM exit returns to: this CPU's current control registers, flat
/// segments, its GDT/TSS (`host` = their bases) and the IDT, EFER and PAT.
fn host_state(host: (u64, u64)) {
    let (cr0, cr3, cr4): (u64, u64, u64);
    // SAFETY: reading control registers has no side effects.
    unsafe { core::arch::asm!("mov {}, cr0", "mov {}, cr3", "mov {}, cr4", out(reg) cr0, out(reg) cr3, out(reg) cr4) };
    field::HOST_CR0.write(cr0);
    field::HOST_CR3.write(cr3);
    field::HOST_CR4.write(cr4);
    field::HOST_CS_SELECTOR.write(cpu::CODE64);
    for sel in [field::HOST_SS_SELECTOR, field::HOST_DS_SELECTOR, field::HOST_ES_SELECTOR] {
        sel.write(cpu::DATA);
    }
    field::HOST_FS_SELECTOR.write(0);
    field::HOST_GS_SELECTOR.write(0);
    field::HOST_TR_SELECTOR.write(cpu::TSS);
    field::HOST_FS_BASE.write(0);
    field::HOST_GS_BASE.write(0);
    field::HOST_GDTR_BASE.write(host.0);
    field::HOST_TR_BASE.write(host.1);
    field::HOST_IDTR_BASE.write(cpu::idt_base());
    field::HOST_SYSENTER_CS.write(0);
    field::HOST_SYSENTER_ESP.write(0);
    field::HOST_SYSENTER_EIP.write(0);
    // SAFETY: reading EFER and PAT has no side effects.
    let (efer, pat) = unsafe {
        (x86_64::registers::model_specific::Msr::new(0xc000_0080).read(), x86_64::registers::model_specific::Msr::new(0x277).read())
    };
    field::HOST_IA32_EFER.write(efer);
    field::HOST_IA32_PAT.write(pat);
    field::HOST_RIP.write(vmx_exit as *const () as u64);
}

/// Execution controls, bitmaps, EPT, VPID and the CR ownership masks.
fn control_state(part: &Part, ctl: &Controls) {
    field::PIN_BASED_CONTROLS.write(ctl.pin);
    field::PROC_BASED_CONTROLS.write(ctl.proc);
    field::SECONDARY_CONTROLS.write(ctl.proc2);
    field::EXIT_CONTROLS.write(ctl.exit);
    field::ENTRY_CONTROLS.write(ctl.entry);
    field::EXCEPTION_BITMAP.write(0);
    field::CR3_TARGET_COUNT.write(0);
    field::EXIT_MSR_STORE_COUNT.write(0);
    field::EXIT_MSR_LOAD_COUNT.write(0);
    field::ENTRY_MSR_LOAD_COUNT.write(0);
    field::IO_BITMAP_A.write(part.io_bitmaps.0);
    field::IO_BITMAP_B.write(part.io_bitmaps.1);
    field::MSR_BITMAP.write(part.msr_bitmap);
    field::EPT_POINTER.write(part.eptp);
    field::VPID.write(part.vpid);
    field::VMCS_LINK_POINTER.write(u64::MAX);
    field::CR0_GUEST_HOST_MASK.write(ctl.cr0_mask);
    field::CR4_GUEST_HOST_MASK.write(ctl.cr4_mask);
}

impl ArchVcpu for Vcpu {
    fn run(&mut self) -> VmExit {
        loop {
            self.prepare();
            // SAFETY: the VMCS of this vCPU is current on this CPU with complete host,
            // control and guest state (new + reset); `regs` outlives the call.
            let failed = unsafe { vmx_enter(&mut self.regs, u64::from(self.launched)) };
            if failed != 0 {
                let error = field::INSTRUCTION_ERROR.read();
                defmt::error!("VM entry failed: VM-instruction error {=u32}", error);
                return VmExit::Refused("VM entry failed");
            }
            self.launched = true;
            if let Some(exit) = self.handle_exit() {
                return exit;
            }
        }
    }

    fn reset(&mut self, entry: GuestPhysAddr, arg: u64) {
        self.regs = GuestRegs::default();
        self.lapic = VLapic::new(self.index as u32);
        self.pending = Pending::None;
        if self.index == 0 {
            self.reset_protected(entry, arg);
        } else {
            self.reset_real(entry);
        }
        field::GUEST_RSP.write(0);
        field::GUEST_RFLAGS.write(0x2);
        field::GUEST_DR7.write(0x400);
        field::GUEST_IA32_DEBUGCTL.write(0);
        field::GUEST_LDTR_SELECTOR.write(0);
        field::GUEST_LDTR_AR.write(AR_UNUSABLE);
        field::GUEST_TR_SELECTOR.write(0);
        field::GUEST_TR_BASE.write(0);
        field::GUEST_TR_LIMIT.write(0xffff);
        field::GUEST_TR_AR.write(AR_TSS);
        field::GUEST_GDTR_BASE.write(0);
        field::GUEST_GDTR_LIMIT.write(0xffff);
        field::GUEST_IDTR_BASE.write(0);
        field::GUEST_IDTR_LIMIT.write(0xffff);
        field::GUEST_INTERRUPTIBILITY.write(0);
        field::GUEST_ACTIVITY_STATE.write(0);
        field::GUEST_PENDING_DEBUG.write(0);
        field::GUEST_SYSENTER_CS.write(0);
        field::GUEST_SYSENTER_ESP.write(0);
        field::GUEST_SYSENTER_EIP.write(0);
        field::ENTRY_INTERRUPTION_INFO.write(0);
        set_proc(proc::INTERRUPT_WINDOW, false);
        // The old run's translations (its own page tables, cached under this VPID and
        // EPTP) must not survive into the new one.
        vmx::invept_all();
    }

    fn set_results(&mut self, values: &[u64]) {
        if let Pending::Results = self.pending {
            // RAX, then RDI, RSI: the hypercall ABI's result registers.
            for (n, v) in [0u8, 7, 6].into_iter().zip(values) {
                self.regs.set(n, *v);
            }
        }
    }

    fn complete_load(&mut self, value: u64) {
        self.complete(value);
    }

    fn skip_instruction(&mut self) {
        if let Pending::Access { len, .. } = self.pending {
            self.skip(u64::from(len));
        }
        self.pending = Pending::None;
    }

    fn pc(&self) -> u64 {
        field::GUEST_RIP.read()
    }

    fn syndrome(&self) -> u64 {
        u64::from(self.reason) | (self.qualification << 16)
    }
}

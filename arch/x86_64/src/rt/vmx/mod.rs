//! Intel VMX, the vendor layer: one VMCS per vCPU, entry through `vmx_enter`, and exits
//! decoded into the common [`Exit`] (SDM Vol. 3C chapters 25-28; exit qualifications in
//! 28.2).

pub mod insn;

use core::arch::global_asm;

use bulkhead_core::addr::GuestPhysAddr;

use super::cpu;
use super::setup::Part;
use super::vcpu::{
    start_state, Event, Exit, GuestRegs, Segment, Vendor, AR_TSS, CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PAT_RESET,
};
use crate::decode::Mode;
use crate::vmcs::{adjust, entry, exit, field, inject, msr, pin, proc, proc2, reason, F16, F32, FN};
pub use insn::Field;

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

/// "Unusable" segment access rights (SDM Vol. 3C 25.4.1).
const AR_UNUSABLE: u32 = 0x1_0000;

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
        let true_caps = insn::has_true_controls();
        let cap = |plain: u32, tru: u32| insn::cap(if true_caps { tru } else { plain });
        let (pin, _) = adjust(pin::EXTERNAL_INTERRUPT | pin::NMI | pin::VIRTUAL_NMI, cap(msr::PINBASED, msr::TRUE_PINBASED));
        let want = proc::IO_BITMAPS | proc::MSR_BITMAPS | proc::SECONDARY | proc::MWAIT | proc::MONITOR | proc::RDPMC;
        let (proc, missing) = adjust(want, cap(msr::PROCBASED, msr::TRUE_PROCBASED));
        if missing != 0 {
            return Err("the CPU cannot exit on I/O, MSRs, MWAIT, MONITOR or RDPMC");
        }
        let want2 = proc2::EPT | proc2::VPID | proc2::UNRESTRICTED_GUEST | proc2::WBINVD | proc2::RDTSCP | proc2::INVPCID;
        let (proc2, missing2) = adjust(want2, insn::cap(msr::PROCBASED2));
        if missing2 & (proc2::EPT | proc2::UNRESTRICTED_GUEST | proc2::WBINVD) != 0 {
            return Err("the CPU lacks EPT, unrestricted guests or WBINVD exiting");
        }
        let want_exit = exit::HOST_ADDRESS_SPACE | exit::ACK_INTERRUPT | exit::SAVE_PAT | exit::LOAD_PAT | exit::SAVE_EFER | exit::LOAD_EFER;
        let (exit_ctls, missing_exit) = adjust(want_exit, cap(msr::EXIT, msr::TRUE_EXIT));
        let (entry_ctls, missing_entry) = adjust(entry::LOAD_PAT | entry::LOAD_EFER, cap(msr::ENTRY, msr::TRUE_ENTRY));
        if missing_exit | missing_entry != 0 {
            return Err("the CPU cannot switch EFER and PAT on VM entry and exit");
        }
        let cr0_fixed = (insn::cap(msr::CR0_FIXED0) & !(CR0_PE | CR0_PG), insn::cap(msr::CR0_FIXED1));
        let cr4_fixed = (insn::cap(msr::CR4_FIXED0), insn::cap(msr::CR4_FIXED1));
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

    fn cr0(&self, value: u64) -> u64 {
        (value | self.cr0_fixed.0) & self.cr0_fixed.1
    }

    fn cr4(&self, value: u64) -> u64 {
        (value | self.cr4_fixed.0) & self.cr4_fixed.1
    }
}

/// One vCPU's VMX state: its VMCS is current on this CPU for good.
pub struct Vmx {
    ctl: Controls,
    launched: bool,
    /// The last exit's basic reason and qualification, for reports.
    reason: u16,
    qualification: u64,
}

impl Vmx {
    /// A VMCS for a vCPU of `part`, made current on this CPU; `host` = this CPU's GDT
    /// and TSS bases.
    pub fn new(part: &Part, ctl: Controls, host: (u64, u64)) -> Result<Self, &'static str> {
        let vmcs = insn::new_vmcs()?;
        // SAFETY: a fresh VMCS of this vCPU, which only this CPU ever runs.
        unsafe { insn::load(vmcs)? };
        host_state(host);
        control_state(part, &ctl);
        Ok(Self { ctl, launched: false, reason: 0, qualification: 0 })
    }

    fn len(&self) -> u8 {
        field::EXIT_INSTRUCTION_LENGTH.read() as u8
    }

    /// An event being delivered when the exit happened is delivered again on entry.
    fn reinject_vectoring(&mut self) {
        let info = field::IDT_VECTORING_INFO.read();
        if info & (1 << 31) == 0 {
            return;
        }
        field::ENTRY_INTERRUPTION_INFO.write(info & !(1 << 12));
        if info & (1 << 11) != 0 {
            field::ENTRY_EXCEPTION_ERROR_CODE.write(field::IDT_VECTORING_ERROR_CODE.read());
        }
        if matches!((info >> 8) & 7, 4..=6) {
            field::ENTRY_INSTRUCTION_LENGTH.write(field::EXIT_INSTRUCTION_LENGTH.read());
        }
    }
}

impl Vendor for Vmx {
    fn enter(&mut self, regs: &mut GuestRegs) -> Result<(), &'static str> {
        // SAFETY: this vCPU's VMCS is current on this CPU with complete host, control and
        // guest state (new + reset); `regs` outlives the call.
        let failed = unsafe { vmx_enter(regs, u64::from(self.launched)) };
        if failed != 0 {
            let error = field::INSTRUCTION_ERROR.read();
            defmt::error!("VM entry failed: VM-instruction error {=u32}", error);
            return Err("VM entry failed");
        }
        self.launched = true;
        Ok(())
    }

    fn exit(&mut self, regs: &GuestRegs) -> Exit {
        let full = field::EXIT_REASON.read();
        self.reason = full as u16;
        self.qualification = field::EXIT_QUALIFICATION.read();
        self.reinject_vectoring();
        if full & (1 << 31) != 0 {
            return Exit::Stop("VM entry failed: the guest state is invalid");
        }
        let q = self.qualification;
        match self.reason {
            reason::EXTERNAL_INTERRUPT => Exit::Interrupt(Some(field::EXIT_INTERRUPTION_INFO.read() as u8)),
            reason::INTERRUPT_WINDOW => Exit::Window,
            reason::CPUID => Exit::Cpuid(self.len()),
            reason::RDMSR => Exit::Rdmsr(self.len()),
            reason::WRMSR => Exit::Wrmsr(self.len()),
            reason::CR_ACCESS if (q >> 4) & 3 == 0 && matches!(q & 0xf, 0 | 4) => {
                Exit::CrWrite { cr: (q & 0xf) as u8, gpr: ((q >> 8) & 0xf) as u8, len: self.len() }
            }
            reason::CR_ACCESS => Exit::Stop("a control-register access the hypervisor does not emulate"),
            reason::XSETBV => Exit::Xsetbv(self.len()),
            reason::VMCALL => Exit::Hypercall(self.len()),
            reason::IO => Exit::Io {
                port: (q >> 16) as u16,
                size: (q & 7) as u8 + 1,
                input: q & (1 << 3) != 0,
                string: q & (1 << 4) != 0,
                len: self.len(),
            },
            reason::EPT_VIOLATION => Exit::Fault {
                gpa: field::GUEST_PHYSICAL_ADDRESS.read(),
                write: q & (1 << 1) != 0,
                fetch: q & (1 << 2) != 0,
            },
            reason::WBINVD | reason::INVD => Exit::Skip(self.len()),
            reason::VMCLEAR..=reason::VMXON
            | reason::INVEPT
            | reason::INVVPID
            | reason::VMFUNC
            | reason::GETSEC
            | reason::RDPMC
            | reason::MWAIT
            | reason::MONITOR
            | reason::ENCLS => Exit::Undefined,
            reason::EXCEPTION_NMI => {
                // Only #UD is in the exception bitmap: VMMCALL, AMD's hypercall
                // instruction, is one here too. An NMI needs nothing.
                let info = field::EXIT_INTERRUPTION_INFO.read();
                let _ = regs;
                if (info >> 8) & 7 == 3 && info & 0xff == 6 {
                    Exit::InvalidOpcode
                } else {
                    Exit::Nothing
                }
            }
            reason::INIT | reason::SIPI => Exit::Nothing,
            reason::TRIPLE_FAULT => Exit::Stop("triple fault"),
            reason::TASK_SWITCH => Exit::Stop("a hardware task switch"),
            reason::EPT_MISCONFIG => Exit::Stop("EPT misconfiguration"),
            _ => Exit::Stop("an unexpected VM exit"),
        }
    }

    fn syndrome(&self) -> u64 {
        u64::from(self.reason) | (self.qualification << 16)
    }

    fn rip(&self) -> u64 {
        field::GUEST_RIP.read()
    }

    fn set_rip(&mut self, rip: u64) {
        field::GUEST_RIP.write(rip);
    }

    fn rsp(&self) -> u64 {
        field::GUEST_RSP.read()
    }

    fn set_rsp(&mut self, rsp: u64) {
        field::GUEST_RSP.write(rsp);
    }

    fn can_inject(&self) -> bool {
        let busy = field::ENTRY_INTERRUPTION_INFO.read() & inject::VALID != 0;
        let if_set = field::GUEST_RFLAGS.read() & (1 << 9) != 0;
        let blocked = field::GUEST_INTERRUPTIBILITY.read() & 3 != 0;
        !busy && if_set && !blocked
    }

    fn inject(&mut self, event: Event) {
        let info = match event {
            Event::Interrupt(v) => {
                field::GUEST_ACTIVITY_STATE.write(0); // a halted vCPU wakes to take it
                inject::VALID | inject::EXTERNAL | u32::from(v)
            }
            Event::Exception(v, None) => inject::VALID | inject::EXCEPTION | u32::from(v),
            Event::Exception(v, Some(code)) => {
                field::ENTRY_EXCEPTION_ERROR_CODE.write(code);
                inject::VALID | inject::EXCEPTION | inject::ERROR_CODE | u32::from(v)
            }
        };
        field::ENTRY_INTERRUPTION_INFO.write(info);
    }

    fn interrupt_window(&mut self, on: bool) {
        let v = field::PROC_BASED_CONTROLS.read();
        let new = if on { v | proc::INTERRUPT_WINDOW } else { v & !proc::INTERRUPT_WINDOW };
        if new != v {
            field::PROC_BASED_CONTROLS.write(new);
        }
    }

    fn clear_shadow(&mut self) {
        let blocking = field::GUEST_INTERRUPTIBILITY.read();
        if blocking & 3 != 0 {
            field::GUEST_INTERRUPTIBILITY.write(blocking & !3);
        }
    }

    fn cpl(&self) -> u8 {
        ((field::GUEST_SS_AR.read() >> 5) & 3) as u8
    }

    fn cr0(&self) -> u64 {
        let mask = self.ctl.cr0_mask;
        (field::GUEST_CR0.read() & !mask) | (field::CR0_READ_SHADOW.read() & mask)
    }

    fn cr3(&self) -> u64 {
        field::GUEST_CR3.read()
    }

    fn efer(&self) -> u64 {
        field::GUEST_IA32_EFER.read()
    }

    fn set_cr0(&mut self, value: u64) {
        field::GUEST_CR0.write(self.ctl.cr0(value));
        field::CR0_READ_SHADOW.write(value);
        let efer = field::GUEST_IA32_EFER.read();
        if efer & EFER_LME != 0 {
            let lma = if value & CR0_PG != 0 { EFER_LMA } else { 0 };
            field::GUEST_IA32_EFER.write((efer & !EFER_LMA) | lma);
        }
    }

    fn set_cr4(&mut self, value: u64) {
        field::GUEST_CR4.write(self.ctl.cr4(value));
        field::CR4_READ_SHADOW.write(value);
    }

    fn set_efer(&mut self, value: u64) {
        let paging = self.cr0() & CR0_PG != 0;
        let lma = if value & EFER_LME != 0 && paging { EFER_LMA } else { 0 };
        field::GUEST_IA32_EFER.write((value & !EFER_LMA) | lma);
    }

    fn code(&self) -> (Mode, u64) {
        let ar = field::GUEST_CS_AR.read();
        let mode = if ar & (1 << 13) != 0 {
            Mode::Long
        } else if ar & (1 << 14) != 0 {
            Mode::Protected32
        } else {
            Mode::Real16
        };
        (mode, field::GUEST_CS_BASE.read())
    }

    fn reset(&mut self, entry: GuestPhysAddr, protected: bool) {
        let start = start_state(entry, protected);
        segment(field::GUEST_CS_SELECTOR, field::GUEST_CS_BASE, field::GUEST_CS_LIMIT, field::GUEST_CS_AR, start.cs);
        for (sel, base, limit, ar) in data_segments() {
            segment(sel, base, limit, ar, start.data);
        }
        self.set_control_registers(start.cr0);
        field::GUEST_RIP.write(start.rip);
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
        self.interrupt_window(false);
        // The old run's translations (its own page tables, cached under this VPID and
        // EPTP) must not survive into the new one.
        insn::invept_all();
    }

    fn before_entry(&mut self) {
        // The IA-32e entry control must follow the guest's EFER.LMA, which the guest
        // changes itself by enabling paging with EFER.LME set.
        let lma = field::GUEST_IA32_EFER.read() & EFER_LMA != 0;
        let entry_ctls = field::ENTRY_CONTROLS.read();
        if (entry_ctls & entry::IA32E_GUEST != 0) != lma {
            field::ENTRY_CONTROLS.write(entry_ctls ^ entry::IA32E_GUEST);
        }
    }
}

impl Vmx {
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

fn segment(sel: F16, base: FN, limit: F32, ar: F32, v: Segment) {
    sel.write(v.selector);
    base.write(v.base);
    limit.write(v.limit);
    ar.write(v.access);
}

fn data_segments() -> [(F16, FN, F32, F32); 5] {
    [
        (field::GUEST_DS_SELECTOR, field::GUEST_DS_BASE, field::GUEST_DS_LIMIT, field::GUEST_DS_AR),
        (field::GUEST_ES_SELECTOR, field::GUEST_ES_BASE, field::GUEST_ES_LIMIT, field::GUEST_ES_AR),
        (field::GUEST_SS_SELECTOR, field::GUEST_SS_BASE, field::GUEST_SS_LIMIT, field::GUEST_SS_AR),
        (field::GUEST_FS_SELECTOR, field::GUEST_FS_BASE, field::GUEST_FS_LIMIT, field::GUEST_FS_AR),
        (field::GUEST_GS_SELECTOR, field::GUEST_GS_BASE, field::GUEST_GS_LIMIT, field::GUEST_GS_AR),
    ]
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
    field::EXCEPTION_BITMAP.write(1 << 6); // #UD (see `exit`)
    field::CR3_TARGET_COUNT.write(0);
    field::EXIT_MSR_STORE_COUNT.write(0);
    field::EXIT_MSR_LOAD_COUNT.write(0);
    field::ENTRY_MSR_LOAD_COUNT.write(0);
    // Bitmaps A and B are the first two pages of the shared I/O permission bitmap.
    field::IO_BITMAP_A.write(part.io_map);
    field::IO_BITMAP_B.write(part.io_map + 4096);
    field::MSR_BITMAP.write(part.msr_map);
    field::EPT_POINTER.write(part.nested_root);
    field::VPID.write(part.tag);
    field::VMCS_LINK_POINTER.write(u64::MAX);
    field::CR0_GUEST_HOST_MASK.write(ctl.cr0_mask);
    field::CR4_GUEST_HOST_MASK.write(ctl.cr4_mask);
}

//! The aarch64 vCPU: guest registers, entry through `enter_guest`, exit decoding.
//!
//! One vCPU owns one physical CPU, so the EL1 system registers, the timer and the GIC
//! virtual CPU interface stay live in hardware, and the hypervisor (built soft-float)
//! never touches FP/SIMD state: an exit saves only general-purpose registers, ELR_EL2
//! and SPSR_EL2.
//!
//! Exits come in two speeds. [`fast_exit`] runs straight from the exception vector with
//! only the caller-saved registers stored, and finishes what needs no decision by core:
//! PSCI queries, trapped GIC system registers, the guest's own interrupts. Everything
//! else saves the remaining registers and returns from `enter_guest` to [`Vcpu::run`].

use core::arch::asm;

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::vcpu::{ArchVcpu, MmioAccess, VmExit};

use super::gic;
use super::setup::Part;
use crate::esr::{self, DataAbort, SysReg, Trap};
use crate::psci::{self, Call};

/// Guest general-purpose state; the layout is shared with boot.s.
#[repr(C)]
#[derive(Default)]
pub struct GuestRegs {
    /// x0..x30.
    pub x: [u64; 31],
    /// Return address (ELR_EL2).
    pub elr: u64,
    /// Saved PSTATE (SPSR_EL2).
    pub spsr: u64,
}

/// Exception kinds the vectors pass to [`fast_exit`] (boot.s).
const KIND_SYNC: u64 = 0;
const KIND_IRQ: u64 = 1;
/// [`fast_exit`]'s answers, which `enter_guest` returns: resume the guest, or why not.
const RESUME: u64 = 0;
const EXIT_SYNC: u64 = 1;
const EXIT_KICK: u64 = 2;
const EXIT_OTHER: u64 = 3;
/// SPSR for entry at EL1h with D, A, I, F masked.
const SPSR_EL1H: u64 = 0x3c5;
/// PSTATE.I in an SPSR: IRQs masked.
const SPSR_I: u64 = 1 << 7;
/// SCTLR_EL1 reset value: MMU and caches off, RES1 bits set.
const SCTLR_EL1_RESET: u64 = 0x30D0_0800;

extern "C" {
    fn enter_guest(regs: *mut GuestRegs) -> u64;
}

const _: () = assert!(core::mem::offset_of!(Vcpu, regs) == 0);

/// One vCPU of a partition, pinned to the current physical CPU. `regs` comes first: the
/// vectors reach the whole vCPU through the pointer to it in TPIDR_EL2.
#[repr(C)]
pub struct Vcpu {
    regs: GuestRegs,
    part: &'static Part,
    index: usize,
    esr: u64,
    /// FAR_EL2 of the last abort exit: the faulting virtual address.
    far: u64,
    abort: Option<DataAbort>,
}

impl Vcpu {
    /// vCPU `index` of `part`.
    pub fn new(part: &'static Part, index: usize) -> Self {
        Self { regs: GuestRegs::default(), part, index, esr: 0, far: 0, abort: None }
    }

    fn reg(&self, n: u8) -> u64 {
        self.regs.x.get(usize::from(n)).copied().unwrap_or(0)
    }

    fn set_reg(&mut self, n: u8, value: u64) {
        if let Some(r) = self.regs.x.get_mut(usize::from(n)) {
            *r = value;
        }
    }

    /// Decodes a synchronous exit; `None` means handled here, re-enter at once.
    fn sync_exit(&mut self) -> Option<VmExit> {
        self.esr = read_esr();
        match esr::decode(self.esr) {
            Trap::Hvc => self.call(),
            Trap::Smc => {
                self.regs.elr += 4; // HCR_EL2.TSC: ELR points at the SMC itself
                self.call()
            }
            Trap::SysReg(r) => {
                self.sysreg(r);
                None
            }
            Trap::DataAbort(a) => Some(self.data_abort(a)),
            Trap::InstructionAbort => {
                let (gpa, far) = fault_address();
                self.far = far;
                Some(VmExit::Stage2Fault { gpa, write: false })
            }
            Trap::Wfx => {
                self.regs.elr += 4;
                Some(VmExit::Idle)
            }
            Trap::Other(_) => Some(VmExit::Refused("unexpected exception class")),
        }
    }

    /// The fast path of a synchronous exit: whether it was finished here.
#[inline]
    fn fast_sync(&mut self) -> bool {
        let esr = read_esr();
        let smc = match esr::decode(esr) {
            Trap::Hvc => false,
            Trap::Smc => true,
            Trap::SysReg(r) => {
                self.esr = esr;
                self.sysreg(r);
                gic::flush_pending(self.part, self.index);
                return true;
            }
            _ => return false,
        };
        let x = &self.regs.x;
        if !psci::is_firmware_call(x[0]) {
            return false;
        }
        match psci::decode([x[0], x[1], x[2], x[3]]) {
            Call::Answer(value) => {
                self.regs.x[0] = value as u64;
                if smc {
                    self.regs.elr += 4; // HCR_EL2.TSC: ELR points at the SMC itself
                }
                true
            }
            Call::Power(_) | Call::Standby => false,
        }
    }

    fn call(&mut self) -> Option<VmExit> {
        let function = self.regs.x[0];
        if !psci::is_firmware_call(function) {
            let x = &self.regs.x;
            return Some(VmExit::Hypercall { function, args: [x[1], x[2], x[3], x[4], x[5], x[6]] });
        }
        match psci::decode([function, self.regs.x[1], self.regs.x[2], self.regs.x[3]]) {
            Call::Answer(value) => {
                self.regs.x[0] = value as u64;
                None
            }
            Call::Power(req) => Some(VmExit::Power(req)),
            Call::Standby => {
                // CPU_SUSPEND: every power state is a standby, a WFI the hypervisor does
                // for the guest (as KVM does); returning early is allowed (DEN0022 5.4).
                gic::standby(self.part, self.index);
                self.regs.x[0] = 0;
                None
            }
        }
    }

    fn sysreg(&mut self, r: SysReg) {
        let value = if r.rt == 31 { 0 } else { self.reg(r.rt) };
        match super::sysreg::access(self.part, self.index, r, value) {
            super::sysreg::Outcome::Done(load) => {
                if let (Some(v), true) = (load, r.rt != 31) {
                    self.set_reg(r.rt, v);
                }
                self.regs.elr += 4;
            }
            super::sysreg::Outcome::Undefined => self.inject_undef(),
            super::sysreg::Outcome::Retry => {}
        }
    }

    fn data_abort(&mut self, a: DataAbort) -> VmExit {
        let (gpa, far) = fault_address();
        self.far = far;
        if !a.valid {
            return VmExit::Stage2Fault { gpa, write: a.write };
        }
        self.abort = Some(a);
        let write = a.write.then(|| if a.srt == 31 { 0 } else { self.reg(a.srt) });
        VmExit::Mmio(MmioAccess { gpa, size: a.size, write })
    }

    /// Makes the guest take an Undefined Instruction exception at EL1 (Arm ARM D1.10).
    fn inject_undef(&mut self) {
        self.take_sync_exception(1 << 25, None); // EC 0 (unknown reason), IL
    }

    /// The guest takes a synchronous exception to EL1 at its current PC with syndrome
    /// `esr_el1` (and `far` in FAR_EL1), as the hardware would (Arm ARM D1.10.2): the
    /// return state goes to ELR_EL1/SPSR_EL1, PSTATE becomes EL1h with D, A, I, F masked,
    /// and execution continues at the vector for the level it came from.
    fn take_sync_exception(&mut self, esr_el1: u64, far: Option<u64>) {
        let vbar = read_vbar();
        // SAFETY: these EL1 registers belong to the guest running on this CPU; this is
        // exactly what the hardware does when it takes an exception to EL1.
        unsafe {
            asm!(
                "msr esr_el1, {esr}",
                "msr elr_el1, {elr}",
                "msr spsr_el1, {spsr}",
                esr = in(reg) esr_el1,
                elr = in(reg) self.regs.elr,
                spsr = in(reg) self.regs.spsr,
            );
            if let Some(far) = far {
                asm!("msr far_el1, {}", in(reg) far);
            }
        }
        self.regs.elr = vbar + esr::sync_vector_offset(self.regs.spsr);
        self.regs.spsr = SPSR_EL1H;
    }
}

impl ArchVcpu for Vcpu {
    fn run(&mut self) -> VmExit {
        loop {
            gic::flush_pending(self.part, self.index);
            // SAFETY: the pointer covers this whole vCPU (regs first, repr(C)), which
            // outlives the call; `fast_exit` is the only user of it meanwhile. EL2 is
            // configured for this partition (el2::enter_partition) on this CPU.
            let code = unsafe { enter_guest((self as *mut Self).cast()) };
            match code {
                EXIT_SYNC => {
                    if let Some(exit) = self.sync_exit() {
                        return exit;
                    }
                }
                EXIT_KICK => return VmExit::Handled,
                _ => return VmExit::Refused("SError or FIQ from the guest"),
            }
        }
    }

    fn reset(&mut self, entry: GuestPhysAddr, arg: u64) {
        self.regs = GuestRegs::default();
        self.regs.x[0] = arg;
        self.regs.elr = entry.as_u64();
        self.regs.spsr = SPSR_EL1H;
        // SAFETY: resetting the EL1 state of the partition that owns this CPU (both of its
        // timers off, EL0 timer access off); the TLB invalidation drops the old run's
        // translations for this VMID.
        unsafe {
            asm!(
                "msr sctlr_el1, {sctlr}",
                "msr vbar_el1, xzr",
                "msr cpacr_el1, xzr",
                "msr cntv_ctl_el0, xzr",
                "msr cntp_ctl_el0, xzr",
                "msr cntkctl_el1, xzr",
                "msr tcr_el1, xzr",
                "isb",
                "tlbi vmalls12e1",
                "dsb nsh",
                "isb",
                sctlr = in(reg) SCTLR_EL1_RESET,
            );
        }
        gic::reset_virtual_interface(self.part, self.index);
        super::debug::reset();
        super::sysreg::reset();
    }

    fn set_results(&mut self, values: &[u64]) {
        for (r, v) in self.regs.x.iter_mut().zip(values) {
            *r = *v;
        }
    }

    fn complete_load(&mut self, value: u64) {
        if let Some(a) = self.abort.take() {
            if a.srt != 31 {
                self.set_reg(a.srt, esr::load_value(&a, value));
            }
        }
    }

    fn skip_instruction(&mut self) {
        self.regs.elr += 4;
    }

    fn pc(&self) -> u64 {
        self.regs.elr
    }

    fn syndrome(&self) -> u64 {
        self.esr
    }

    fn inject_abort(&mut self) -> bool {
        let vbar = read_vbar();
        if esr::class(self.esr) == esr::EC_IABT_LOWER && (vbar..vbar + esr::VECTORS_SIZE).contains(&self.far) {
            return false; // its vectors are what it cannot fetch: no handler would run
        }
        let Some(esr_el1) = esr::external_abort(self.esr, self.regs.spsr) else { return false };
        self.abort = None;
        self.take_sync_exception(esr_el1, Some(self.far));
        true
    }
}

/// Called by the vectors (boot.s) with the guest's caller-saved registers stored in
/// `vcpu`'s context: finishes the exit if it can (returns [`RESUME`]), else says why not.
#[no_mangle]
extern "C" fn fast_exit(vcpu: *mut Vcpu, kind: u64) -> u64 {
    // SAFETY: TPIDR_EL2 holds the vCPU `enter_guest` was called with; `run` does not
    // touch it until `enter_guest` returns.
    let vcpu = unsafe { &mut *vcpu };
    match kind {
        KIND_SYNC if vcpu.fast_sync() => RESUME,
        KIND_SYNC => EXIT_SYNC,
        KIND_IRQ => fast_irq(vcpu),
        _ => EXIT_OTHER,
    }
}

/// The interrupt half of [`fast_exit`], kept out of line so each half's prologue saves
/// only the registers it needs.
#[inline(never)]
fn fast_irq(vcpu: &mut Vcpu) -> u64 {
    if gic::physical_irq(vcpu.part, vcpu.index, vcpu.regs.spsr & SPSR_I != 0) {
        return EXIT_KICK;
    }
    gic::flush_pending(vcpu.part, vcpu.index);
    RESUME
}

fn read_esr() -> u64 {
    let v: u64;
    // SAFETY: reading ESR_EL2 has no side effects.
    unsafe { asm!("mrs {}, esr_el2", out(reg) v) };
    v
}

/// The faulting IPA and virtual address of the abort being handled.
fn fault_address() -> (GuestPhysAddr, u64) {
    let (hpfar, far): (u64, u64);
    // SAFETY: reading HPFAR_EL2 and FAR_EL2 has no side effects.
    unsafe { asm!("mrs {}, hpfar_el2", "mrs {}, far_el2", out(reg) hpfar, out(reg) far) };
    (esr::fault_ipa(hpfar, far), far)
}

fn read_vbar() -> u64 {
    let vbar: u64;
    // SAFETY: reading VBAR_EL1 has no side effects.
    unsafe { asm!("mrs {}, vbar_el1", out(reg) vbar) };
    vbar
}

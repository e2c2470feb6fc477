//! Trapped system-register accesses: what `crate::sysreg::classify` decided, done.
//!
//! Set/way cache maintenance is emulated as the architecture intends for a virtual
//! machine (Arm ARM D7.5.9, "Performing cache maintenance instructions"; KVM does the
//! same): set/way operations only make sense to a guest switching its caches on or off,
//! so the first one cleans and invalidates the partition's whole RAM by VA to the point
//! of coherency and starts trapping the virtual-memory controls (`HCR_EL2.TVM`). While
//! they trap, a write to `SCTLR_EL1` that switches the caches cleans and invalidates
//! again, and once the caches are on, the trapping stops.

use core::arch::asm;

use aarch64_cpu::registers::{ReadWriteable, Readable, HCR_EL2};

use super::setup::Part;
use super::{cache, gic};
use crate::sysreg::{classify, Access, VmReg};
use crate::esr::SysReg;

/// SCTLR_EL1.M (stage-1 MMU) and SCTLR_EL1.C (data caches).
const SCTLR_M_C: u64 = (1 << 0) | (1 << 2);

/// What the vCPU must do after the access: step past it, or take an Undefined
/// Instruction exception.
pub enum Outcome {
    /// Emulated: the guest continues after the instruction; `Some(value)` goes to the
    /// instruction's register.
    Done(Option<u64>),
    /// The guest takes an Undefined Instruction exception at the instruction.
    Undefined,
    /// The trap that made the access fault is gone: the guest runs the instruction again.
    Retry,
}

/// Performs trapped access `r` of vCPU `index` of `part`, `value` being what a write
/// writes.
pub fn access(part: &Part, index: usize, r: SysReg, value: u64) -> Outcome {
    match classify(r) {
        Access::Sgi => {
            gic::guest_sgi(part, index, value);
            Outcome::Done(None)
        }
        Access::SetWay => {
            set_way(part);
            Outcome::Done(None)
        }
        Access::VmWrite(reg) => {
            vm_write(part, reg, value);
            Outcome::Done(None)
        }
        Access::GicGroup1 => {
            gic::resample(part, index);
            Outcome::Retry
        }
        Access::RazWi => Outcome::Done(r.read.then_some(0)),
        Access::Undefined => Outcome::Undefined,
    }
}

/// A vCPU reset: the new run starts with its caches off and untracked.
pub fn reset() {
    HCR_EL2.modify(HCR_EL2::TVM::CLEAR);
}

/// The first set/way operation since the caches were last on: clean and invalidate
/// everything and watch the caches.
fn set_way(part: &Part) {
    if HCR_EL2.matches_all(HCR_EL2::TVM::SET) {
        return; // already flushed since the guest last had its caches on
    }
    flush_partition(part);
    HCR_EL2.modify(HCR_EL2::TVM::SET);
}

/// A trapped write of a VM control register: done on the guest's behalf; a cache
/// switch in SCTLR_EL1 flushes, caches on ends the watch.
fn vm_write(part: &Part, reg: VmReg, value: u64) {
    let old = if reg == VmReg::Sctlr { read_sctlr() } else { 0 };
    // SAFETY: each of these is an EL1 register of the guest that owns this CPU; writing
    // the value it asked for is exactly what its own MSR would have done.
    unsafe {
        match reg {
            VmReg::Sctlr => asm!("msr sctlr_el1, {}", in(reg) value),
            VmReg::Ttbr0 => asm!("msr ttbr0_el1, {}", in(reg) value),
            VmReg::Ttbr1 => asm!("msr ttbr1_el1, {}", in(reg) value),
            VmReg::Tcr => asm!("msr tcr_el1, {}", in(reg) value),
            VmReg::Esr => asm!("msr esr_el1, {}", in(reg) value),
            VmReg::Far => asm!("msr far_el1, {}", in(reg) value),
            VmReg::Afsr0 => asm!("msr afsr0_el1, {}", in(reg) value),
            VmReg::Afsr1 => asm!("msr afsr1_el1, {}", in(reg) value),
            VmReg::Mair => asm!("msr mair_el1, {}", in(reg) value),
            VmReg::Amair => asm!("msr amair_el1, {}", in(reg) value),
            VmReg::Contextidr => asm!("msr contextidr_el1, {}", in(reg) value),
        }
        asm!("isb");
    }
    if reg != VmReg::Sctlr {
        return;
    }
    let (was_on, now_on) = (old & SCTLR_M_C == SCTLR_M_C, value & SCTLR_M_C == SCTLR_M_C);
    if was_on != now_on {
        flush_partition(part);
    }
    if now_on {
        HCR_EL2.modify(HCR_EL2::TVM::CLEAR);
    }
}

fn read_sctlr() -> u64 {
    let v: u64;
    // SAFETY: reading SCTLR_EL1 has no side effects.
    unsafe { asm!("mrs {}, sctlr_el1", out(reg) v) };
    v
}

/// Cleans and invalidates every line of the partition's RAM to the point of coherency
/// (by VA: the hypervisor maps RAM at its physical address).
fn flush_partition(part: &Part) {
    for r in &part.config.memory {
        cache::clean_invalidate_range(r.host.as_u64(), r.guest.size as usize);
    }
}

//! EL2 control registers that decide isolation, behind `unsafe fn`s (STYLE 7).

use aarch64_cpu::registers::{Writeable, CNTHCTL_EL2, CNTVOFF_EL2, HCR_EL2, VMPIDR_EL2, VTCR_EL2, VTTBR_EL2};

/// HCR_EL2 while a partition runs (Arm ARM D17.2.48): stage 2 on (VM), set/way
/// invalidation upgraded to clean+invalidate (SWIO), physical IRQ/FIQ/SError taken to
/// EL2 (IMO/FMO/AMO), EL1 TLB maintenance broadcast inner-shareable (FB, BSU = IS),
/// SMC trapped (TSC), set/way cache maintenance trapped (TSW), EL1 is AArch64 (RW).
pub const HCR_GUEST: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 9)
    | (1 << 10)
    | (1 << 19)
    | (1 << 22)
    | (1 << 31);

/// CNTHCTL_EL2: EL1 may read the physical counter (EL1PCTEN) but not use the physical
/// timer (EL1PCEN clear): guests get the virtual timer, the physical one stays here.
const CNTHCTL_GUEST: u64 = 1 << 0;

/// Makes this CPU run guests under `HCR_EL2 = HCR_GUEST` with the given stage-2 tables.
///
/// # Safety
/// `vttbr` must hold the VMID and root of a stage-2 table that maps only the running
/// partition's memory and devices, and `vtcr` must describe that table's format; any
/// other value lets the guest reach memory it does not own.
pub unsafe fn enter_partition(vttbr: u64, vtcr: u64) {
    VTCR_EL2.set(vtcr);
    VTTBR_EL2.set(vttbr);
    HCR_EL2.set(HCR_GUEST);
    CNTHCTL_EL2.set(CNTHCTL_GUEST);
    CNTVOFF_EL2.set(0);
    // SAFETY: an ISB only orders the writes above before any later guest entry.
    unsafe { core::arch::asm!("isb") };
}

/// Sets the MPIDR_EL1 value the guest reads on this CPU.
pub fn set_virtual_mpidr(value: u64) {
    VMPIDR_EL2.set(value);
}

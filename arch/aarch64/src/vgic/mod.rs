//! Virtual GICv3: each partition's emulated distributor and redistributors, list
//! registers and virtual SGIs.
//!
//! Guests see a GICv3 with affinity routing, a single Security state (`GICD_CTLR.DS` = 1)
//! and no LPIs. Their GICD and GICR ranges are left unmapped at stage 2, so every access
//! traps to EL2 and lands in [`VGicDistributor`] or [`VGicRedistributor`]. Those show only
//! the partition's own interrupts and pass permitted changes to the physical GIC through
//! [`PhysGic`]. Interrupts reach a guest through list registers ([`inject`]): physical
//! SPIs and PPIs hardware-mapped under the same INTID, SGIs as purely virtual ones.
//!
//! vCPU `i` of a partition has virtual MPIDR Aff0 = `i` ([`vmpidr`]). Every affinity a
//! guest writes or reads (`GICD_IROUTER`, `ICC_SGI1R_EL1`, `GICR_TYPER`) is a virtual vCPU
//! index, translated here to the physical CPU that runs that vCPU.
//!
//! All of it but [`hw`] is pure logic over [`PhysGic`] and [`ListRegs`], tested on the
//! host against fakes.

mod gicd;
mod gicr;
pub mod hw;
mod intid;
mod lr;
mod mmio;
mod pending;
mod phys;
mod resample;
mod sgi;

#[cfg(test)]
mod tests;

pub use gicd::VGicDistributor;
pub use gicr::{locate, VGicRedistributor, GICR_FRAME_SIZE};
pub use intid::{IntIdSet, NR_INTIDS, SPI_FIRST, SPI_LAST};
pub use lr::{inject, inject_virtual, Full, ListReg, ListRegs, LrState};
pub use mmio::{BadAccess, ConfigError};
pub use pending::PendingIrqs;
pub use phys::PhysGic;
pub use resample::resample;
pub use sgi::sgi_targets;

/// Most vCPUs a partition can have: `ICC_SGI1R_EL1.TargetList` reaches Aff0 0..15
/// without range selectors, which the virtual GIC does not advertise.
pub const MAX_VCPUS: usize = 16;

/// The EL1 virtual timer's PPI (`CNTV_*`, DT `interrupts = <1 11 ...>`): always passed
/// through to the guest.
pub const VTIMER_PPI: u32 = 27;

/// The EL1 physical timer's PPI (`CNTP_*`, DT `interrupts = <1 14 ...>`, Arm BSA): always
/// passed through to the guest, like the virtual timer's.
pub const PTIMER_PPI: u32 = 30;

/// The PPIs every vCPU's redistributor passes through (bit n = INTID n): the two EL1
/// timers a partition owns on its CPU.
pub const TIMER_PPIS: u32 = 1 << VTIMER_PPI | 1 << PTIMER_PPI;

/// Which of the two EL1 timers' PPIs `intid` is: 0 for the virtual timer, 1 for the
/// physical one (an index into per-vCPU timer caches).
#[inline]
pub const fn timer_index(intid: u32) -> Option<usize> {
    match intid {
        VTIMER_PPI => Some(0),
        PTIMER_PPI => Some(1),
        _ => None,
    }
}

/// The GIC maintenance interrupt PPI on QEMU `virt` and Arm reference platforms.
pub const MAINTENANCE_PPI: u32 = 25;

/// Priority the vGIC gives interrupts at reset, in its shadow and physically.
pub const RESET_PRIORITY: u8 = 0xa0;

/// `GICD_IIDR`/`GICR_IIDR` the guest sees: ProductID 0x42 ('B'), Implementer 0x43b.
/// The product ID matches none of the GIC errata Linux keys on.
pub const IIDR: u32 = 0x4200_043b;

/// `GICD_PIDR2`/`GICR_PIDR2` the guest sees: ArchRev 3 (GICv3), Arm JEP106 bits.
pub const PIDR2: u32 = 0x3b;

/// The `VMPIDR_EL2` value for vCPU `vcpu`: Aff0 = index, RES1 bit 31 set, U = MT = 0.
pub const fn vmpidr(vcpu: usize) -> u64 {
    (1 << 31) | (vcpu as u64 & 0xff)
}

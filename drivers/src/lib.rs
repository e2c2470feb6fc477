//! Device drivers the Bulkhead hypervisor uses itself: the GICv3, and a PL011 or a 16550
//! console.
//!
//! They are register layouts (tock-registers for MMIO) plus small drivers with no
//! policy; partitions never see these, they get the vGIC (arch/aarch64) or the virtual
//! APIC (arch/x86_64) and their own passthrough devices.
#![cfg_attr(not(test), no_std)]

pub mod gicv3;
pub mod ns16550;
pub mod pl011;

//! Device drivers the Bulkhead hypervisor uses itself: the GICv3 and a PL011 console.
//!
//! Both are register layouts over tock-registers plus small drivers; partitions never
//! see these, they get the vGIC (arch/aarch64) and their own passthrough devices.
#![cfg_attr(not(test), no_std)]

pub mod gicv3;
pub mod pl011;

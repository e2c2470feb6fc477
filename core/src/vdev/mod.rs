//! Virtual devices: MMIO regions the hypervisor emulates for a partition.
//!
//! Core owns the lookup from a faulting guest-physical address to a device; devices
//! (the virtual console here, the interrupt-controller models in arch/) implement
//! [`MmioDevice`] and keep their own locks, since a partition's vCPUs run on several
//! physical CPUs at once.

mod console;
#[cfg(test)]
mod fuzz_tests;
mod pl011;

pub use console::{ConsoleSink, LineBuffer};
pub use pl011::VirtPl011;

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::addr::{GuestPhysAddr, Range};

/// A refused device access: the partition is stopped and the reason reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess(pub &'static str);

/// An emulated MMIO device.
pub trait MmioDevice: Send + Sync {
    /// A load of `size` bytes at `offset` from the region base, by vCPU `vcpu`.
    fn read(&self, vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess>;
    /// A store of `size` bytes of `value` at `offset`, by vCPU `vcpu`.
    fn write(&self, vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess>;
}

/// A shared device (the console is both an MMIO region and the console hypercall's
/// target) is a device too.
impl<T: MmioDevice + ?Sized> MmioDevice for alloc::sync::Arc<T> {
    fn read(&self, vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        (**self).read(vcpu, offset, size)
    }
    fn write(&self, vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        (**self).write(vcpu, offset, size, value)
    }
}

/// The emulated regions of one partition.
#[derive(Default)]
pub struct DeviceMap {
    regions: Vec<(Range<GuestPhysAddr>, Box<dyn MmioDevice>)>,
}

impl DeviceMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self { regions: Vec::new() }
    }

    /// Adds `device` at `range`; refuses a range that overlaps one already present.
    pub fn add(&mut self, range: Range<GuestPhysAddr>, device: Box<dyn MmioDevice>) -> Result<(), BadAccess> {
        if self.regions.iter().any(|(r, _)| r.overlaps(&range)) {
            return Err(BadAccess("emulated regions overlap"));
        }
        self.regions.push((range, device));
        Ok(())
    }

    /// The device covering `gpa` and the offset into it.
    pub fn find(&self, gpa: GuestPhysAddr) -> Option<(&dyn MmioDevice, u64)> {
        self.regions
            .iter()
            .find(|(r, _)| r.contains(gpa))
            .and_then(|(r, d)| Some((d.as_ref(), gpa.offset_from(r.start)?)))
    }

    /// The emulated ranges, for building stage-2 tables that leave them unmapped.
    pub fn ranges(&self) -> impl Iterator<Item = Range<GuestPhysAddr>> + '_ {
        self.regions.iter().map(|(r, _)| *r)
    }
}

//! Virtual devices: MMIO regions and I/O ports the hypervisor emulates for a partition.
//!
//! Core owns the lookup from a faulting guest-physical address (or a trapped port) to a
//! device; devices (the virtual consoles here, the interrupt-controller models in arch/)
//! implement [`MmioDevice`] and keep their own locks, since a partition's vCPUs run on
//! several physical CPUs at once.

pub(crate) mod console;
#[cfg(test)]
mod fuzz_tests;
mod ns16550;
mod pl011;

pub use console::{ConsoleSink, LineBuffer};
pub use ns16550::VirtNs16550;
pub use pl011::VirtPl011;

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::addr::{Address, GuestPhysAddr, Range};

/// A refused device access: the partition is stopped and the reason reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess(pub &'static str);

/// An emulated device, reached by MMIO or (on x86) I/O ports: `offset` is from the base
/// of its range in either address space.
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

/// A virtual console: the UART model whose lines the hypervisor prints prefixed with
/// the partition's name, and which the console hypercall writes to as well.
pub trait VirtConsole: Send + Sync {
    /// Writes bytes as if the guest had sent them.
    fn push(&self, bytes: &[u8]);
}

/// The emulated regions of one partition in one address space (guest-physical by
/// default; [`crate::addr::IoPort`]s on x86).
pub struct DeviceMap<A = GuestPhysAddr> {
    regions: Vec<(Range<A>, Box<dyn MmioDevice>)>,
}

impl<A> Default for DeviceMap<A> {
    fn default() -> Self {
        Self { regions: Vec::new() }
    }
}

impl<A: Address> DeviceMap<A> {
    /// An empty map.
    pub const fn new() -> Self {
        Self { regions: Vec::new() }
    }

    /// Adds `device` at `range`; refuses a range that overlaps one already present.
    pub fn add(&mut self, range: Range<A>, device: Box<dyn MmioDevice>) -> Result<(), BadAccess> {
        if self.regions.iter().any(|(r, _)| r.overlaps(&range)) {
            return Err(BadAccess("emulated regions overlap"));
        }
        self.regions.push((range, device));
        Ok(())
    }

    /// The device covering `at` and the offset into it.
    pub fn find(&self, at: A) -> Option<(&dyn MmioDevice, u64)> {
        self.regions
            .iter()
            .find(|(r, _)| r.contains(at))
            .and_then(|(r, d)| Some((d.as_ref(), at.raw().checked_sub(r.start.raw())?)))
    }

    /// The emulated ranges, for building stage-2 tables that leave them unmapped.
    pub fn ranges(&self) -> impl Iterator<Item = Range<A>> + '_ {
        self.regions.iter().map(|(r, _)| *r)
    }
}

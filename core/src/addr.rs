//! Address newtypes: guest-physical, host-physical and host-virtual addresses never mix.
//!
//! Each kind is a transparent `u64` newtype with checked arithmetic only. Converting
//! between kinds is always explicit (a stage-2 translation, an identity placement, or
//! the hypervisor's own linear map), so a guest address can never be dereferenced or
//! handed to a page table as if it were a host one by accident.

use core::fmt;

/// Size of the smallest page and stage-2 granule Bulkhead uses (4 KiB).
pub const PAGE_SIZE: u64 = 4096;

macro_rules! address_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u64);

        impl $name {
            /// The address `raw`.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// `self + offset`, or `None` on overflow.
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            /// `self - offset`, or `None` on underflow.
            pub const fn checked_sub(self, offset: u64) -> Option<Self> {
                match self.0.checked_sub(offset) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            /// Distance from `base` up to `self`, or `None` if `self` lies below `base`.
            pub const fn offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }

            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }

            /// The address rounded down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }

            /// The address rounded up to a multiple of `align` (a power of two), or
            /// `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(v) => Some(Self(v & !(align - 1))),
                    None => None,
                }
            }

            /// Whether the address is 4 KiB aligned.
            pub const fn is_page_aligned(self) -> bool {
                self.is_aligned(PAGE_SIZE)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, ":{:#x}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $name {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=str}:{=u64:#x}", $prefix, self.0)
            }
        }
    };
}

address_type!(
    /// An address in a partition's guest-physical (intermediate physical) space.
    GuestPhysAddr,
    "GPA"
);
address_type!(
    /// An address in the machine's physical space.
    HostPhysAddr,
    "HPA"
);
address_type!(
    /// An address in the hypervisor's own virtual space.
    HostVirtAddr,
    "HVA"
);
address_type!(
    /// An x86 I/O port (the I/O address space: 0..=0xffff).
    IoPort,
    "PORT"
);

/// A half-open range `[start, start + size)` of addresses of one kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Range<A> {
    /// First address in the range.
    pub start: A,
    /// Length in bytes; never zero for a range built by [`Range::new`].
    pub size: u64,
}

/// The operations [`Range`] needs from an address kind.
pub trait Address: Copy + Ord {
    /// The raw value.
    fn raw(self) -> u64;
    /// The address `raw`.
    fn from_raw(raw: u64) -> Self;
}

macro_rules! address_impl {
    ($($addr:ident),*) => {$(
        impl Address for $addr {
            fn raw(self) -> u64 {
                self.0
            }
            fn from_raw(raw: u64) -> Self {
                Self(raw)
            }
        }
    )*};
}
address_impl!(GuestPhysAddr, HostPhysAddr, HostVirtAddr, IoPort);

impl<A: Address> Range<A> {
    /// The range `[start, start + size)`, or `None` if it is empty or wraps.
    pub fn new(start: A, size: u64) -> Option<Self> {
        if size == 0 || start.raw().checked_add(size - 1).is_none() {
            None
        } else {
            Some(Self { start, size })
        }
    }

    /// The last address inside the range.
    pub fn last(&self) -> A {
        A::from_raw(self.start.raw() + (self.size - 1))
    }

    /// Whether `addr` lies inside the range.
    pub fn contains(&self, addr: A) -> bool {
        addr.raw() >= self.start.raw() && addr.raw() <= self.last().raw()
    }

    /// Whether `other` lies wholly inside this range.
    pub fn contains_range(&self, other: &Self) -> bool {
        self.contains(other.start) && self.contains(other.last())
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.start.raw() <= other.last().raw() && other.start.raw() <= self.last().raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        let top = GuestPhysAddr::new(u64::MAX - 1);
        assert_eq!(top.checked_add(1), Some(GuestPhysAddr::new(u64::MAX)));
        assert_eq!(top.checked_add(2), None);
        assert_eq!(GuestPhysAddr::new(3).checked_sub(4), None);
        assert_eq!(HostPhysAddr::new(0x1fff).align_up(PAGE_SIZE), Some(HostPhysAddr::new(0x2000)));
        assert_eq!(HostPhysAddr::new(u64::MAX).align_up(PAGE_SIZE), None);
    }

    #[test]
    fn addresses_print_with_their_kind() {
        assert_eq!(format!("{}", GuestPhysAddr::new(0x5000_0000)), "GPA:0x50000000");
        assert_eq!(format!("{:?}", HostPhysAddr::new(0x1000)), "HPA:0x1000");
    }

    #[test]
    fn ranges_overlap_and_contain() {
        let a = Range::new(HostPhysAddr::new(0x1000), 0x1000).unwrap();
        let b = Range::new(HostPhysAddr::new(0x1fff), 0x10).unwrap();
        let c = Range::new(HostPhysAddr::new(0x2000), 0x10).unwrap();
        assert!(a.overlaps(&b) && !a.overlaps(&c));
        assert!(Range::new(HostPhysAddr::new(u64::MAX), 2).is_none());
        assert!(Range::new(HostPhysAddr::new(0), 0).is_none());
        assert!(a.contains_range(&Range::new(HostPhysAddr::new(0x1800), 0x800).unwrap()));
    }
}

//! AMD nested page tables: the long-mode page-table format walked for guest-physical
//! addresses (AMD APM Vol. 2, 15.25 "Nested Paging" and 5.3 "Long-Mode Page
//! Translation"; entry bits in 5.4 "Page-Translation-Table Entry Fields").
//!
//! Only the bits live here; the walk is core's `bulkhead_core::stage2::Stage2`. Levels
//! use core's numbering: PML4 = 0 … PT = 3, a 4-level walk over a 48-bit space. Nested
//! walks are user accesses (APM 15.25.5): every entry sets U/S. The memory type comes
//! from the PAT index (PWT, PCD; PAT as at reset: index 0 write-back, 3 uncacheable),
//! combined with the guest's own type as the APM describes.

use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::stage2::{level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms};

/// Bit 0: present (and readable: nested paging has no write-only or execute-only).
const PRESENT: u64 = 1 << 0;
/// Bit 1: writable.
const WRITE: u64 = 1 << 1;
/// Bit 2: user: required on every nested entry.
const USER: u64 = 1 << 2;
/// Bit 3: page-level write-through (PAT index bit 0).
const PWT: u64 = 1 << 3;
/// Bit 4: page-level cache disable (PAT index bit 1).
const PCD: u64 = 1 << 4;
/// Bit 7 of a PDPE or PDE: a 1 GiB or 2 MiB page.
const LARGE: u64 = 1 << 7;
/// Bit 63: no execute (EFER.NXE is set for nested walks by the hypervisor's host EFER).
const NX: u64 = 1 << 63;
/// Physical address bits 51:12.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The NPT format for a CPU with `phys_bits` of physical address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Npt {
    phys_bits: u32,
    pages_1g: bool,
}

impl Npt {
    /// 48-bit physical addresses, 1 GiB pages (every CPU with nested paging has 2 MiB).
    pub const fn new() -> Self {
        Self { phys_bits: 48, pages_1g: true }
    }

    /// The format for a CPU with `phys_bits` (CPUID 0x80000008 `EAX[7:0]`) and 1 GiB
    /// pages if `pages_1g` (CPUID 0x80000001 `EDX[26]`); `None` outside 32..=52 bits.
    pub const fn with(phys_bits: u32, pages_1g: bool) -> Option<Self> {
        if phys_bits < 32 || phys_bits > 52 {
            return None;
        }
        Some(Self { phys_bits, pages_1g })
    }

    fn addr(&self, raw: u64) -> u64 {
        raw & ADDR_MASK & ((1u64 << self.phys_bits) - 1)
    }
}

impl Default for Npt {
    fn default() -> Self {
        Self::new()
    }
}

impl DescriptorFormat for Npt {
    fn ipa_bits(&self) -> u32 {
        48
    }

    fn pa_bits(&self) -> u32 {
        self.phys_bits
    }

    fn start_level(&self) -> u8 {
        0
    }

    fn leaf_allowed(&self, level: u8) -> bool {
        match level {
            1 => self.pages_1g,
            2 | 3 => true,
            _ => false,
        }
    }

    /// A present entry is readable: write needs read, and no access at all would be a
    /// not-present entry.
    fn supports(&self, perms: Perms) -> bool {
        perms.read
    }

    fn encode_table(&self, _level: u8, next: HostPhysAddr) -> u64 {
        self.addr(next.as_u64()) | PRESENT | WRITE | USER
    }

    /// Normal memory: PAT index 0 (write-back), the guest's own type combined with it;
    /// Device memory: PAT index 3 (uncacheable), which no guest type relaxes.
    fn encode_leaf(&self, level: u8, hpa: HostPhysAddr, attrs: Attrs) -> u64 {
        let p = attrs.perms;
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let mem = match attrs.mem {
            MemType::Normal => 0,
            MemType::Device => PWT | PCD,
        };
        let large = bit(level < 3, LARGE);
        (self.addr(hpa.as_u64()) & !(level_size(level) - 1)) | PRESENT | USER | bit(p.write, WRITE) | bit(!p.exec, NX) | mem | large
    }

    fn decode(&self, level: u8, raw: u64) -> Descriptor {
        if raw & PRESENT == 0 {
            return Descriptor::Invalid;
        }
        match level {
            0 => Descriptor::Table(HostPhysAddr::new(self.addr(raw))),
            1 | 2 if raw & LARGE == 0 => Descriptor::Table(HostPhysAddr::new(self.addr(raw))),
            1 | 2 if !self.leaf_allowed(level) => Descriptor::Invalid,
            _ => {
                let hpa = HostPhysAddr::new(self.addr(raw) & !(level_size(level) - 1));
                let perms = Perms::new(true, raw & WRITE != 0, raw & NX == 0);
                let mem = if raw & (PWT | PCD) == PWT | PCD { MemType::Device } else { MemType::Normal };
                Descriptor::Leaf { hpa, attrs: Attrs { perms, mem } }
            }
        }
    }
}

/// The N_CR3 value for an NPT root.
pub const fn ncr3(root: HostPhysAddr) -> u64 {
    root.as_u64() & ADDR_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_have_the_manual_bits() {
        let rw = Attrs { perms: Perms::RW, mem: MemType::Normal };
        // NX | large | U | W | P
        assert_eq!(Npt::new().encode_leaf(2, HostPhysAddr::new(0x4000_0000), rw), NX | 0x4000_0087);
        let dev = Attrs { perms: Perms::RW, mem: MemType::Device };
        assert_eq!(Npt::new().encode_leaf(3, HostPhysAddr::new(0xfec0_0000), dev), NX | 0xfec0_001f);
        let rwx = Attrs { perms: Perms::RWX, mem: MemType::Normal };
        assert_eq!(Npt::new().encode_leaf(3, HostPhysAddr::new(0x1234_5000), rwx), 0x1234_5007);
    }

    #[test]
    fn tables_are_user_writable_and_decode_by_level() {
        let f = Npt::new();
        assert_eq!(f.encode_table(0, HostPhysAddr::new(0x7f_f000)), 0x7f_f007);
        assert_eq!(f.decode(2, 0x7f_f007), Descriptor::Table(HostPhysAddr::new(0x7f_f000)));
        assert_eq!(f.decode(3, 0x7f_f006), Descriptor::Invalid, "not present");
        let no_1g = Npt::with(40, false).unwrap();
        assert_eq!(no_1g.decode(1, 0x4000_0087), Descriptor::Invalid);
        assert!(!f.supports(Perms::new(false, true, false)));
    }
}

//! Intel EPT paging-structure entries and the EPTP that points at them.
//!
//! Only the bits live here; the walk is core's `bulkhead_core::stage2::Stage2`.
//! References are to the Intel SDM Vol. 3C, 29.3 "The Extended Page Table Mechanism
//! (EPT)": entry formats in 29.3.2, misconfigurations in 29.3.3.1, memory typing in
//! 29.3.7; the EPTP in 25.6.11; capabilities in Vol. 3D A.10.
//!
//! Levels use core's numbering: PML4 = 0, PDPT = 1, PD = 2, PT = 3, a 4-level walk over a
//! 48-bit guest-physical space. Accessed/dirty flags are not enabled.

use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::stage2::{level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms};

/// Bit 0: reads allowed.
const READ: u64 = 1 << 0;
/// Bit 1: writes allowed.
const WRITE: u64 = 1 << 1;
/// Bit 2: instruction fetches allowed (supervisor fetches when MBEC is on).
const EXEC: u64 = 1 << 2;
/// An entry is present if any of bits 2:0 is set.
const PRESENT_MASK: u64 = READ | WRITE | EXEC;
/// Bits 5:3 of a leaf: the EPT memory type.
const MEMTYPE_SHIFT: u32 = 3;
const MEMTYPE_MASK: u64 = 0b111 << MEMTYPE_SHIFT;
/// Memory type write-back.
const MEMTYPE_WB: u64 = 6;
/// Memory type uncacheable.
const MEMTYPE_UC: u64 = 0;
/// Memory type write-combining: the other non-cacheable type a decoded leaf may carry.
const MEMTYPE_WC: u64 = 1;
/// Bit 6 of a leaf: ignore the guest's PAT, use the EPT memory type alone.
const IGNORE_PAT: u64 = 1 << 6;
/// Bit 7 of a PDPTE or PDE: it maps a 1 GiB or 2 MiB page rather than a table.
const LARGE: u64 = 1 << 7;
/// Physical address bits 51:12; the CPU's MAXPHYADDR narrows it further.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// IA32_VMX_EPT_VPID_CAP bit 6: a 4-level page walk is supported.
const CAP_WALK_4: u64 = 1 << 6;
/// IA32_VMX_EPT_VPID_CAP bit 14: the EPTP may select write-back for the paging
/// structures.
const CAP_WB: u64 = 1 << 14;
/// IA32_VMX_EPT_VPID_CAP bit 16: 2 MiB pages.
const CAP_2M: u64 = 1 << 16;
/// IA32_VMX_EPT_VPID_CAP bit 17: 1 GiB pages.
const CAP_1G: u64 = 1 << 17;

/// The EPT format for one CPU's physical-address width and large-page support.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ept {
    phys_bits: u32,
    pages_2m: bool,
    pages_1g: bool,
}

impl Ept {
    /// MAXPHYADDR 46 (common on recent Intel parts), 2 MiB and 1 GiB pages.
    pub const fn new() -> Self {
        Self {
            phys_bits: 46,
            pages_2m: true,
            pages_1g: true,
        }
    }

    /// The format for a CPU with `phys_bits` of physical address (CPUID 0x80000008
    /// `EAX[7:0]`) and the IA32_VMX_EPT_VPID_CAP MSR value `cap`. `None` if the CPU
    /// cannot walk 4-level, write-back EPT, or `phys_bits` is outside 32..=52.
    pub const fn from_caps(phys_bits: u32, cap: u64) -> Option<Self> {
        if cap & CAP_WALK_4 == 0 || cap & CAP_WB == 0 || phys_bits < 32 || phys_bits > 52 {
            return None;
        }
        let pages_2m = cap & CAP_2M != 0;
        // A 1 GiB page is split into 2 MiB ones, so it is only used alongside them.
        let pages_1g = pages_2m && cap & CAP_1G != 0;
        Some(Self {
            phys_bits,
            pages_2m,
            pages_1g,
        })
    }

    fn addr(&self, raw: u64) -> u64 {
        raw & ADDR_MASK & ((1u64 << self.phys_bits) - 1)
    }
}

impl Default for Ept {
    fn default() -> Self {
        Self::new()
    }
}

/// The EPTP (VMCS field 0x201A) for an EPT root: write-back paging structures (bits
/// 2:0 = 6), page-walk length 4 (bits 5:3 = 3), accessed/dirty flags off (bit 6 = 0),
/// the PML4 frame in bits 51:12.
pub const fn eptp(root: HostPhysAddr) -> u64 {
    (root.as_u64() & ADDR_MASK) | (3 << 3) | MEMTYPE_WB
}

impl DescriptorFormat for Ept {
    fn ipa_bits(&self) -> u32 {
        48
    }

    fn pa_bits(&self) -> u32 {
        self.phys_bits
    }

    fn start_level(&self) -> u8 {
        0
    }

    /// PTEs map 4 KiB, PDEs 2 MiB and PDPTEs 1 GiB when the CPU supports them; PML4Es
    /// always reference a table.
    fn leaf_allowed(&self, level: u8) -> bool {
        match level {
            1 => self.pages_1g,
            2 => self.pages_2m,
            3 => true,
            _ => false,
        }
    }

    /// Reads are required: write-without-read is an EPT misconfiguration (29.3.3.1),
    /// execute-only needs a capability not relied on, and no access at all would be a
    /// not-present entry.
    fn supports(&self, perms: Perms) -> bool {
        perms.read
    }

    /// Non-leaf entries allow everything; the leaf decides. Bits 7:3 must be zero.
    fn encode_table(&self, _level: u8, next: HostPhysAddr) -> u64 {
        self.addr(next.as_u64()) | READ | WRITE | EXEC
    }

    /// Normal memory is write-back with the guest's PAT honoured, so a guest may still
    /// choose UC or WC for its own buffers (29.3.7.2 combines the two like an MTRR
    /// type). Device memory is UC with the PAT ignored: an MTRR-style UC would let a
    /// guest PAT of WC through (Vol. 3A, "Selecting Memory Types for Pentium III and
    /// More Recent Processor Families").
    fn encode_leaf(&self, level: u8, hpa: HostPhysAddr, attrs: Attrs) -> u64 {
        let p = attrs.perms;
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let rights = bit(p.read, READ) | bit(p.write, WRITE) | bit(p.exec, EXEC);
        let mem = match attrs.mem {
            MemType::Normal => MEMTYPE_WB << MEMTYPE_SHIFT,
            MemType::Device => MEMTYPE_UC << MEMTYPE_SHIFT | IGNORE_PAT,
        };
        let large = bit(level < 3, LARGE);
        (self.addr(hpa.as_u64()) & !(level_size(level) - 1)) | rights | mem | large
    }

    fn decode(&self, level: u8, raw: u64) -> Descriptor {
        if raw & PRESENT_MASK == 0 {
            return Descriptor::Invalid;
        }
        match level {
            0 => Descriptor::Table(HostPhysAddr::new(self.addr(raw))),
            1 | 2 if raw & LARGE == 0 => Descriptor::Table(HostPhysAddr::new(self.addr(raw))),
            // A large page the CPU does not support is a misconfiguration, not a leaf.
            1 | 2 if !self.leaf_allowed(level) => Descriptor::Invalid,
            _ => self.decode_leaf(level, raw),
        }
    }
}

impl Ept {
    fn decode_leaf(&self, level: u8, raw: u64) -> Descriptor {
        let hpa = HostPhysAddr::new(self.addr(raw) & !(level_size(level) - 1));
        let perms = Perms::new(raw & READ != 0, raw & WRITE != 0, raw & EXEC != 0);
        let mem = match (raw & MEMTYPE_MASK) >> MEMTYPE_SHIFT {
            MEMTYPE_UC | MEMTYPE_WC => MemType::Device,
            _ => MemType::Normal,
        };
        Descriptor::Leaf {
            hpa,
            attrs: Attrs { perms, mem },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_rw_2m_page_has_the_manual_bits() {
        let rw = Attrs {
            perms: Perms::RW,
            mem: MemType::Normal,
        };
        // large | WB (6 << 3) | W | R, PAT honoured
        assert_eq!(
            Ept::new().encode_leaf(2, HostPhysAddr::new(0x4000_0000), rw),
            0x4000_00b3
        );
        let rwx = Attrs {
            perms: Perms::RWX,
            ..rw
        };
        assert_eq!(
            Ept::new().encode_leaf(3, HostPhysAddr::new(0x1234_5000), rwx),
            0x1234_5037
        );
    }

    #[test]
    fn device_page_is_uncached_and_ignores_pat() {
        let dev = Attrs {
            perms: Perms::RW,
            mem: MemType::Device,
        };
        // ignore-PAT | UC (0 << 3) | W | R
        assert_eq!(
            Ept::new().encode_leaf(3, HostPhysAddr::new(0xfee0_0000), dev),
            0xfee0_0043
        );
    }

    #[test]
    fn tables_allow_everything_and_decode_by_level() {
        let f = Ept::new();
        assert_eq!(f.encode_table(0, HostPhysAddr::new(0x7f_f000)), 0x7f_f007);
        assert_eq!(
            f.decode(0, 0x7f_f007 | LARGE),
            Descriptor::Table(HostPhysAddr::new(0x7f_f000)),
            "PML4 bit 7 is reserved"
        );
        assert_eq!(
            f.decode(2, 0x7f_f007),
            Descriptor::Table(HostPhysAddr::new(0x7f_f000))
        );
        assert_eq!(
            f.decode(3, 0x7f_f000 | MEMTYPE_WB << 3),
            Descriptor::Invalid,
            "no R/W/X: not present"
        );
    }

    #[test]
    fn eptp_is_root_walk_length_and_wb() {
        assert_eq!(eptp(HostPhysAddr::new(0x1_2345_6000)), 0x1_2345_601e);
    }

    #[test]
    fn capabilities_pick_page_sizes() {
        let base = CAP_WALK_4 | CAP_WB;
        assert_eq!(
            Ept::from_caps(39, base),
            Some(Ept {
                phys_bits: 39,
                pages_2m: false,
                pages_1g: false
            })
        );
        let only_1g = Ept::from_caps(39, base | CAP_1G).unwrap();
        assert!(
            !only_1g.leaf_allowed(1),
            "1 GiB pages only alongside 2 MiB ones"
        );
        let all = Ept::from_caps(46, base | CAP_2M | CAP_1G).unwrap();
        assert!(all.leaf_allowed(1) && all.leaf_allowed(2) && !all.leaf_allowed(0));
        assert_eq!(Ept::from_caps(46, CAP_WB | CAP_2M), None, "no 4-level walk");
        assert_eq!(Ept::from_caps(46, CAP_WALK_4), None, "no WB EPTP");
        assert_eq!(Ept::from_caps(53, base), None);
    }

    #[test]
    fn unsupported_large_page_and_write_only_are_refused() {
        let f = Ept::from_caps(46, CAP_WALK_4 | CAP_WB).unwrap();
        assert_eq!(f.decode(2, 0x4000_00b3), Descriptor::Invalid);
        assert!(!f.supports(Perms::new(false, true, false)));
        assert!(!f.supports(Perms::NONE));
        assert!(f.supports(Perms::RX));
    }

    #[test]
    fn addresses_beyond_maxphyaddr_are_masked_off() {
        let f = Ept::from_caps(39, CAP_WALK_4 | CAP_WB).unwrap();
        assert_eq!(
            f.decode(0, (1 << 45) | 0x1007),
            Descriptor::Table(HostPhysAddr::new(0x1000))
        );
    }
}

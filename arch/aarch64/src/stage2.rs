//! VMSAv8-64 stage-2 descriptors (4 KiB granule) and the VTCR_EL2 / VTTBR_EL2 values for them.
//!
//! Only the bits live here; the walk is core's `bulkhead_core::stage2::Stage2`.
//! References are to the Arm ARM (DDI 0487), chapter D8 "The AArch64 Virtual Memory
//! System Architecture", by section title: "Translation table descriptor formats",
//! "Stage 2 memory type and Cacheability attributes", "Stage 2 data access
//! permissions", and for the start level "Concatenated translation tables for the
//! initial stage 2 lookup" plus the `AArch64.S2InconsistentSL()` pseudocode.
//!
//! Start level policy: the fewest levels the IPA size allows with at most 16
//! concatenated root tables (a 2-D nested walk costs about (n+1)^2 memory accesses, so
//! a level saved is worth a larger root):
//! - 25..=30 bits: start at level 2 (SL0 = 0b00), one partial root table;
//! - 31..=43 bits: start at level 1 (SL0 = 0b01); 40..=43 bits concatenate 2..=16 root
//!   tables (40 bits: two, 8 KiB, as Linux/KVM does);
//! - 44..=48 bits: start at level 0 (SL0 = 0b10).
//!
//! 52-bit addresses (FEAT_LPA/LPA2) and the 16/64 KiB granules are not supported.

use core::fmt;

use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::stage2::{level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms};

/// Bit 0: the descriptor is valid.
const VALID: u64 = 1 << 0;
/// Bit 1: a table descriptor at levels 0..=2, a page descriptor at level 3; clear at
/// levels 1..=2 means a block ("Translation table descriptor formats").
const TABLE_OR_PAGE: u64 = 1 << 1;
/// MemAttr[3:0], bits [5:2] (stage-2 encoding with HCR_EL2.FWB = 0).
const MEMATTR_SHIFT: u32 = 2;
/// Normal memory, Outer and Inner Write-Back cacheable.
const MEMATTR_NORMAL_WB: u64 = 0b1111;
/// Device-nGnRE: what Linux uses for device MMIO.
const MEMATTR_DEVICE_NGNRE: u64 = 0b0001;
/// S2AP[0], bit 6: reads allowed ("Stage 2 data access permissions").
const S2AP_READ: u64 = 1 << 6;
/// S2AP[1], bit 7: writes allowed.
const S2AP_WRITE: u64 = 1 << 7;
/// SH[1:0], bits [9:8] = 0b11: Inner Shareable. Ignored for Device memory, which is
/// always Outer Shareable, so only Normal leaves set it.
const SH_INNER: u64 = 0b11 << 8;
/// Bit 10: the access flag. Set up front: with no hardware AF management (VTCR_EL2.HA
/// = 0) a clear AF would fault on first access.
const AF: u64 = 1 << 10;
/// XN[1:0], bits [54:53] = 0b10: not executable at EL1 or EL0, with or without
/// FEAT_XNX (without it bit 53 is RES0 and bit 54 alone is XN).
const XN: u64 = 1 << 54;
const XN_FIELD: u64 = 0b11 << 53;
/// Output address bits [47:12] (48-bit OA, no FEAT_LPA).
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// An IPA size / PA range pair the format cannot use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum S2ConfigError {
    /// `pa_bits` is not one of the VTCR_EL2.PS sizes 32, 36, 40, 42, 44, 48.
    PaRange {
        /// The PA size asked for.
        pa_bits: u32,
    },
    /// `ipa_bits` is outside 25..=48 or wider than the PA range.
    IpaSize {
        /// The IPA size asked for.
        ipa_bits: u32,
        /// The PA size it was paired with.
        pa_bits: u32,
    },
}

impl fmt::Display for S2ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PaRange { pa_bits } => write!(f, "{pa_bits}-bit PA range is not a VTCR_EL2.PS size"),
            Self::IpaSize { ipa_bits, pa_bits } => write!(
                f,
                "{ipa_bits}-bit IPA space is not in 25..=48 bits or exceeds the {pa_bits}-bit PA range"
            ),
        }
    }
}

/// The VMSAv8-64 stage-2 format for one IPA size and PA range.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Aarch64Stage2 {
    ipa_bits: u32,
    pa_bits: u32,
    start_level: u8,
}

impl Aarch64Stage2 {
    /// 40-bit IPA and PA (the smallest PA range of common Armv8-A cores, e.g. Cortex-A53
    /// and QEMU's `virt` with `cortex-a57`): level-1 start, two concatenated root tables.
    pub const fn new() -> Self {
        Self {
            ipa_bits: 40,
            pa_bits: 40,
            start_level: 1,
        }
    }

    /// The format for a `ipa_bits` guest-physical space and a `pa_bits` PA range.
    pub const fn with_sizes(ipa_bits: u32, pa_bits: u32) -> Result<Self, S2ConfigError> {
        if ps_field(pa_bits).is_none() {
            return Err(S2ConfigError::PaRange { pa_bits });
        }
        let start_level = match ipa_bits {
            25..=30 => 2,
            31..=43 => 1,
            44..=48 => 0,
            _ => return Err(S2ConfigError::IpaSize { ipa_bits, pa_bits }),
        };
        if ipa_bits > pa_bits {
            return Err(S2ConfigError::IpaSize { ipa_bits, pa_bits });
        }
        Ok(Self {
            ipa_bits,
            pa_bits,
            start_level,
        })
    }

    /// VTCR_EL2.T0SZ: the IPA space is `2^(64 - T0SZ)` bytes.
    pub const fn t0sz(&self) -> u64 {
        64 - self.ipa_bits as u64
    }

    /// VTCR_EL2.SL0 for the 4 KiB granule: 0b00 level 2, 0b01 level 1, 0b10 level 0.
    pub const fn sl0(&self) -> u64 {
        2 - self.start_level as u64
    }

    /// The VTCR_EL2 value for tables of this format (register description "VTCR_EL2"): T0SZ and SL0 as
    /// above, table walks Inner Shareable and Write-Back cacheable (IRGN0 = ORGN0 =
    /// 0b01, SH0 = 0b11), TG0 = 4 KiB, PS from the PA range, VS = 0 (8-bit VMIDs),
    /// hardware AF/dirty management off, RES1 bit 31 set.
    pub const fn vtcr(&self) -> u64 {
        const IRGN0_WBWA: u64 = 0b01 << 8;
        const ORGN0_WBWA: u64 = 0b01 << 10;
        const SH0_INNER: u64 = 0b11 << 12;
        const RES1: u64 = 1 << 31;
        let ps = match ps_field(self.pa_bits) {
            Some(ps) => ps,
            None => 0, // unreachable: `with_sizes` checked the PA range
        };
        self.t0sz() | self.sl0() << 6 | IRGN0_WBWA | ORGN0_WBWA | SH0_INNER | ps << 16 | RES1
    }
}

impl Default for Aarch64Stage2 {
    fn default() -> Self {
        Self::new()
    }
}

/// VTCR_EL2.PS (and ID_AA64MMFR0_EL1.PARange) encoding of a PA size.
const fn ps_field(pa_bits: u32) -> Option<u64> {
    match pa_bits {
        32 => Some(0b000),
        36 => Some(0b001),
        40 => Some(0b010),
        42 => Some(0b011),
        44 => Some(0b100),
        48 => Some(0b101),
        _ => None,
    }
}

/// The PA size ID_AA64MMFR0_EL1.PARange (bits 3:0) reports, if this format can use it;
/// a 52-bit range is capped to 48 (no FEAT_LPA descriptors here).
pub const fn pa_bits_from_parange(id_aa64mmfr0_el1: u64) -> Option<u32> {
    match id_aa64mmfr0_el1 & 0xf {
        0b000 => Some(32),
        0b001 => Some(36),
        0b010 => Some(40),
        0b011 => Some(42),
        0b100 => Some(44),
        0b101 | 0b110 => Some(48),
        _ => None,
    }
}

/// The VTTBR_EL2 value for a stage-2 root and an 8-bit VMID (VTCR_EL2.VS = 0):
/// BADDR = `root` (aligned to the root's size by the table-frame pool), VMID in bits
/// 55:48, CnP clear.
pub const fn vttbr(root: HostPhysAddr, vmid: u8) -> u64 {
    (root.as_u64() & OA_MASK) | (vmid as u64) << 48
}

impl DescriptorFormat for Aarch64Stage2 {
    fn ipa_bits(&self) -> u32 {
        self.ipa_bits
    }

    fn pa_bits(&self) -> u32 {
        self.pa_bits
    }

    fn start_level(&self) -> u8 {
        self.start_level
    }

    /// Blocks exist at levels 1 (1 GiB) and 2 (2 MiB) with the 4 KiB granule; level 0
    /// blocks need FEAT_LPA2.
    fn leaf_allowed(&self, level: u8) -> bool {
        (1..=3).contains(&level)
    }

    /// S2AP and XN are independent, so every combination is encodable.
    fn supports(&self, _perms: Perms) -> bool {
        true
    }

    fn encode_table(&self, _level: u8, next: HostPhysAddr) -> u64 {
        // Stage-2 table descriptors have no attribute bits (NSTable, APTable, XNTable
        // and PXNTable are stage-1 only).
        (next.as_u64() & OA_MASK) | TABLE_OR_PAGE | VALID
    }

    fn encode_leaf(&self, level: u8, hpa: HostPhysAddr, attrs: Attrs) -> u64 {
        let kind = if level == 3 {
            TABLE_OR_PAGE | VALID
        } else {
            VALID
        };
        let oa = hpa.as_u64() & OA_MASK & !(level_size(level) - 1);
        let mem = match attrs.mem {
            MemType::Normal => MEMATTR_NORMAL_WB << MEMATTR_SHIFT | SH_INNER,
            MemType::Device => MEMATTR_DEVICE_NGNRE << MEMATTR_SHIFT,
        };
        let p = attrs.perms;
        let ap = if p.read { S2AP_READ } else { 0 } | if p.write { S2AP_WRITE } else { 0 };
        let xn = if p.exec { 0 } else { XN };
        oa | kind | mem | ap | AF | xn
    }

    fn decode(&self, level: u8, raw: u64) -> Descriptor {
        let table_or_page = raw & TABLE_OR_PAGE != 0;
        match (raw & VALID != 0, level, table_or_page) {
            (false, ..) => Descriptor::Invalid,
            (true, 3, true) => decode_leaf(3, raw),
            (true, 0..=2, true) => Descriptor::Table(HostPhysAddr::new(raw & OA_MASK)),
            (true, 1..=2, false) => decode_leaf(level, raw),
            // Level 0 blocks and level 3 "0b01" are reserved: they fault like invalid.
            _ => Descriptor::Invalid,
        }
    }
}

fn decode_leaf(level: u8, raw: u64) -> Descriptor {
    let hpa = HostPhysAddr::new(raw & OA_MASK & !(level_size(level) - 1));
    // Executable only if neither EL1 nor EL0 is barred (XN = 0b00).
    let perms = Perms::new(
        raw & S2AP_READ != 0,
        raw & S2AP_WRITE != 0,
        raw & XN_FIELD == 0,
    );
    // MemAttr[3:2] = 0b00 is Device; anything else is some kind of Normal.
    let mem = if raw & (0b1100 << MEMATTR_SHIFT) == 0 {
        MemType::Device
    } else {
        MemType::Normal
    };
    Descriptor::Leaf {
        hpa,
        attrs: Attrs { perms, mem },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMAL_RW: Attrs = Attrs {
        perms: Perms::RW,
        mem: MemType::Normal,
    };

    #[test]
    fn normal_rw_block_has_the_manual_bits() {
        let f = Aarch64Stage2::new();
        let raw = f.encode_leaf(2, HostPhysAddr::new(0x4000_0000), NORMAL_RW);
        // XN=0b10 | OA 0x40000000 | AF | SH=IS | S2AP=RW | MemAttr=0b1111 | block | valid
        assert_eq!(raw, 0x0040_0000_4000_07fd);
        let rwx = Attrs {
            perms: Perms::RWX,
            ..NORMAL_RW
        };
        assert_eq!(
            f.encode_leaf(1, HostPhysAddr::new(0x4000_0000), rwx),
            0x4000_07fd
        );
    }

    #[test]
    fn device_page_has_the_manual_bits() {
        let f = Aarch64Stage2::new();
        let dev = Attrs {
            perms: Perms::RW,
            mem: MemType::Device,
        };
        // XN | OA 0x09000000 | AF | SH=0 | S2AP=RW | MemAttr=0b0001 | page | valid
        assert_eq!(
            f.encode_leaf(3, HostPhysAddr::new(0x0900_0000), dev),
            0x0040_0000_0900_04c7
        );
        let ro = Attrs {
            perms: Perms::R,
            mem: MemType::Device,
        };
        assert_eq!(
            f.encode_leaf(3, HostPhysAddr::new(0x0900_0000), ro),
            0x0040_0000_0900_0447
        );
    }

    #[test]
    fn table_descriptor_is_address_and_two_low_bits() {
        let f = Aarch64Stage2::new();
        assert_eq!(
            f.encode_table(1, HostPhysAddr::new(0x8_0012_3000)),
            0x8_0012_3003
        );
        assert_eq!(
            f.decode(1, 0x8_0012_3003),
            Descriptor::Table(HostPhysAddr::new(0x8_0012_3000))
        );
    }

    #[test]
    fn reserved_encodings_decode_as_invalid() {
        let f = Aarch64Stage2::with_sizes(48, 48).unwrap();
        assert_eq!(
            f.decode(3, 0x4000_0001 | AF),
            Descriptor::Invalid,
            "level 3 0b01"
        );
        assert_eq!(
            f.decode(0, 0x4000_0001 | AF),
            Descriptor::Invalid,
            "level 0 block"
        );
        assert_eq!(
            f.decode(2, 0x4000_07fc),
            Descriptor::Invalid,
            "valid bit clear"
        );
    }

    #[test]
    fn vtcr_matches_hand_computed_values() {
        // 40-bit: T0SZ=24, SL0=1 (level 1, 2 concatenated tables), PS=0b010.
        let f40 = Aarch64Stage2::new();
        assert_eq!((f40.t0sz(), f40.sl0(), f40.start_level()), (24, 1, 1));
        assert_eq!(f40.vtcr(), 0x8002_3558);
        // 32-bit: T0SZ=32, SL0=1, PS=0b000.
        let f32 = Aarch64Stage2::with_sizes(32, 32).unwrap();
        assert_eq!((f32.t0sz(), f32.sl0()), (32, 1));
        assert_eq!(f32.vtcr(), 0x8000_3560);
        // 48-bit: T0SZ=16, SL0=2 (level 0), PS=0b101.
        assert_eq!(
            Aarch64Stage2::with_sizes(48, 48).unwrap().vtcr(),
            0x8005_3590
        );
        // 39-bit on a 44-bit machine: level 1, one root table, PS=0b100.
        let f39 = Aarch64Stage2::with_sizes(39, 44).unwrap();
        assert_eq!((f39.t0sz(), f39.sl0(), f39.vtcr()), (25, 1, 0x8004_3559));
        // 30-bit: level 2.
        assert_eq!(Aarch64Stage2::with_sizes(30, 32).unwrap().sl0(), 0);
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(
            Aarch64Stage2::with_sizes(40, 41),
            Err(S2ConfigError::PaRange { pa_bits: 41 })
        );
        assert_eq!(
            Aarch64Stage2::with_sizes(52, 48),
            Err(S2ConfigError::IpaSize {
                ipa_bits: 52,
                pa_bits: 48
            })
        );
        assert_eq!(
            Aarch64Stage2::with_sizes(44, 40),
            Err(S2ConfigError::IpaSize {
                ipa_bits: 44,
                pa_bits: 40
            })
        );
        assert_eq!(
            Aarch64Stage2::with_sizes(24, 32),
            Err(S2ConfigError::IpaSize {
                ipa_bits: 24,
                pa_bits: 32
            })
        );
    }

    #[test]
    fn vttbr_and_parange() {
        assert_eq!(
            vttbr(HostPhysAddr::new(0x4020_2000), 3),
            0x0003_0000_4020_2000
        );
        assert_eq!(pa_bits_from_parange(0x0000_0000_0000_1122), Some(40));
        assert_eq!(pa_bits_from_parange(0x6), Some(48));
        assert_eq!(pa_bits_from_parange(0x7), None);
    }
}

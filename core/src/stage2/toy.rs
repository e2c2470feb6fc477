//! A made-up descriptor format so core's tests drive the engine without an arch crate.
//!
//! Deliberately unlike both real formats: a set bit 63 marks a *valid* entry, bit 1
//! marks a leaf at every level, and the start level, IPA size and the levels that may
//! hold blocks are all parameters, so the engine's geometry handling gets exercised.

use super::format::{level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms};
use crate::addr::HostPhysAddr;

const VALID: u64 = 1 << 63;
const LEAF: u64 = 1 << 1;
const READ: u64 = 1 << 2;
const WRITE: u64 = 1 << 3;
const EXEC: u64 = 1 << 4;
const DEVICE: u64 = 1 << 5;
const ADDR: u64 = 0x0000_ffff_ffff_f000;

/// The toy format's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Toy {
    /// Input address width.
    pub ipa_bits: u32,
    /// Level of the root table.
    pub start_level: u8,
    /// Shallowest level that may hold leaves (1: 1 GiB blocks, 2: 2 MiB only, 3: pages).
    pub first_leaf_level: u8,
}

impl Toy {
    /// 39-bit IPA, one root frame at level 1, blocks at levels 1 and 2.
    pub const PLAIN: Self = Self {
        ipa_bits: 39,
        start_level: 1,
        first_leaf_level: 1,
    };
    /// 41-bit IPA at level 1: a root of four concatenated frames; 2 MiB blocks only.
    pub const CONCATENATED: Self = Self {
        ipa_bits: 41,
        start_level: 1,
        first_leaf_level: 2,
    };
    /// 34-bit IPA: a 16-entry root at level 1; pages only.
    pub const SMALL_PAGES_ONLY: Self = Self {
        ipa_bits: 34,
        start_level: 1,
        first_leaf_level: 3,
    };
    /// 32-bit IPA from level 2: a root of four concatenated frames of 2 MiB entries.
    pub const LEVEL2_ROOT: Self = Self {
        ipa_bits: 32,
        start_level: 2,
        first_leaf_level: 2,
    };
    /// 48-bit IPA from level 0, like EPT.
    pub const FOUR_LEVEL: Self = Self {
        ipa_bits: 48,
        start_level: 0,
        first_leaf_level: 1,
    };
}

impl DescriptorFormat for Toy {
    fn ipa_bits(&self) -> u32 {
        self.ipa_bits
    }

    fn pa_bits(&self) -> u32 {
        48
    }

    fn start_level(&self) -> u8 {
        self.start_level
    }

    fn leaf_allowed(&self, level: u8) -> bool {
        level >= self.first_leaf_level && level <= 3
    }

    fn supports(&self, _perms: Perms) -> bool {
        true
    }

    fn encode_table(&self, _level: u8, next: HostPhysAddr) -> u64 {
        VALID | (next.as_u64() & ADDR)
    }

    fn encode_leaf(&self, level: u8, hpa: HostPhysAddr, attrs: Attrs) -> u64 {
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let addr = hpa.as_u64() & ADDR & !(level_size(level) - 1);
        VALID
            | LEAF
            | addr
            | bit(attrs.perms.read, READ)
            | bit(attrs.perms.write, WRITE)
            | bit(attrs.perms.exec, EXEC)
            | bit(attrs.mem == MemType::Device, DEVICE)
    }

    fn decode(&self, level: u8, raw: u64) -> Descriptor {
        if raw & VALID == 0 {
            return Descriptor::Invalid;
        }
        if raw & LEAF == 0 {
            return Descriptor::Table(HostPhysAddr::new(raw & ADDR));
        }
        let perms = Perms::new(raw & READ != 0, raw & WRITE != 0, raw & EXEC != 0);
        let mem = if raw & DEVICE != 0 {
            MemType::Device
        } else {
            MemType::Normal
        };
        let hpa = HostPhysAddr::new(raw & ADDR & !(level_size(level) - 1));
        Descriptor::Leaf {
            hpa,
            attrs: Attrs { perms, mem },
        }
    }
}

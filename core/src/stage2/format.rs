//! The seam between the generic stage-2 engine and an architecture's descriptor bits.
//!
//! Every format Bulkhead supports uses a 4 KiB granule with 512 eight-byte entries per
//! table, so levels are numbered the Arm way for all of them: an entry at level `L`
//! maps `4 KiB << 9 * (3 - L)` bytes (level 3: 4 KiB, level 2: 2 MiB, level 1: 1 GiB,
//! level 0: 512 GiB). An Intel EPT PML4 is level 0 in this numbering, its PT level 3.

use core::fmt;

use crate::addr::HostPhysAddr;

/// Entries in one 4 KiB table frame.
pub const ENTRIES_PER_TABLE: usize = 512;

/// The last level: its entries map single 4 KiB pages.
pub const LAST_LEVEL: u8 = 3;

/// Bits of address an entry at `level` (0..=3) maps: 12 for level 3, 21 for level 2, ...
///
/// Levels above [`LAST_LEVEL`] are clamped to it.
pub const fn level_shift(level: u8) -> u32 {
    let level = if level > LAST_LEVEL {
        LAST_LEVEL
    } else {
        level
    };
    12 + 9 * (LAST_LEVEL - level) as u32
}

/// Bytes one entry at `level` maps: 4 KiB at level 3, 2 MiB at 2, 1 GiB at 1, 512 GiB at 0.
pub const fn level_size(level: u8) -> u64 {
    1 << level_shift(level)
}

/// Access a partition is granted to a range of its guest-physical space.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    /// Loads (and, on x86, instruction fetches need this too) are allowed.
    pub read: bool,
    /// Stores are allowed.
    pub write: bool,
    /// Instruction fetches are allowed.
    pub exec: bool,
}

impl Perms {
    /// No access at all.
    pub const NONE: Self = Self::new(false, false, false);
    /// Read-only data.
    pub const R: Self = Self::new(true, false, false);
    /// Read-write data, never executed (device registers, shared buffers).
    pub const RW: Self = Self::new(true, true, false);
    /// Read-only code.
    pub const RX: Self = Self::new(true, false, true);
    /// Everything: ordinary guest RAM.
    pub const RWX: Self = Self::new(true, true, true);

    /// Permissions from the three flags.
    pub const fn new(read: bool, write: bool, exec: bool) -> Self {
        Self { read, write, exec }
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |on, c| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            flag(self.read, 'r'),
            flag(self.write, 'w'),
            flag(self.exec, 'x')
        )
    }
}

/// How the hardware may treat accesses to a range (caching, speculation, merging).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MemType {
    /// Ordinary write-back cacheable RAM.
    Normal,
    /// Device registers: uncached, no speculative reads, no merging of accesses.
    Device,
}

/// The arch-neutral attributes a leaf descriptor carries besides its output address.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Attrs {
    /// Access permissions.
    pub perms: Perms,
    /// Memory type.
    pub mem: MemType,
}

/// What a raw descriptor means, as decoded by a [`DescriptorFormat`].
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Descriptor {
    /// Nothing mapped; a guest access faults to the hypervisor.
    Invalid,
    /// Points at the next-level table frame.
    Table(HostPhysAddr),
    /// Maps a whole [`level_size`]-sized, equally aligned host range (a block, or a
    /// page at the last level).
    Leaf {
        /// First host-physical byte of the range.
        hpa: HostPhysAddr,
        /// Permissions and memory type.
        attrs: Attrs,
    },
}

/// The bits of one architecture's stage-2 descriptors; the engine supplies the walk.
///
/// A format value may carry configuration (e.g. the IPA size, which fixes the start
/// level). The geometry is a 4 KiB granule with 512 entries per table; only the root
/// may be larger, as up to 16 *concatenated* frames when
/// `ipa_bits() - level_shift(start_level())` exceeds 9 (Arm ARM D8, "Concatenated
/// translation tables for the initial stage 2 lookup").
///
/// Contract, checked by `conformance::descriptor_roundtrip` for each format:
/// - an all-zero entry and [`Self::INVALID`] decode as [`Descriptor::Invalid`] at every
///   level (fresh tables come from zeroed frames);
/// - `decode(encode_leaf(..))` and `decode(encode_table(..))` give back what went in,
///   for every supported permission set and both memory types;
/// - level 3 always allows leaves, and if level `L` allows leaves so does `L + 1`
///   (a block is split into next-level leaves).
pub trait DescriptorFormat {
    /// The encoding of an invalid (unmapped) entry.
    const INVALID: u64 = 0;

    /// Width of the guest-physical (input) address space: GPAs are below `1 << ipa_bits`.
    fn ipa_bits(&self) -> u32;

    /// Width of the host-physical (output) address space the descriptors can encode.
    fn pa_bits(&self) -> u32;

    /// Level of the root table (0..=2).
    fn start_level(&self) -> u8;

    /// Whether an entry at `level` may be a leaf (block or page).
    fn leaf_allowed(&self, level: u8) -> bool;

    /// Whether leaves can express `perms` (e.g. EPT cannot encode write-without-read).
    fn supports(&self, perms: Perms) -> bool;

    /// A table descriptor at `level` pointing at the next-level table frame `next`.
    fn encode_table(&self, level: u8, next: HostPhysAddr) -> u64;

    /// A leaf at `level` mapping the [`level_size`]`(level)`-aligned `hpa`.
    fn encode_leaf(&self, level: u8, hpa: HostPhysAddr, attrs: Attrs) -> u64;

    /// What the raw entry `raw` found at `level` means.
    fn decode(&self, level: u8, raw: u64) -> Descriptor;
}

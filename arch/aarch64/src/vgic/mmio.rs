//! Access-width checks and the errors the vGIC reports.

use core::fmt;

use super::MAX_VCPUS;

/// A guest access the GIC architecture does not allow (wrong width or misaligned).
/// The runtime stops the partition and reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess {
    /// Offset from the start of the emulated region (GICD frame or GICR frame).
    pub offset: u64,
    /// Access size in bytes.
    pub size: u8,
}

impl fmt::Display for BadAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-byte GIC register access at offset {:#x} is not allowed",
            self.size, self.offset
        )
    }
}

/// A vGIC that cannot be built as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A partition needs at least one vCPU.
    NoVcpus,
    /// More vCPUs than [`MAX_VCPUS`].
    TooManyVcpus(usize),
    /// A vCPU index at or beyond the partition's vCPU count.
    NoSuchVcpu(usize),
    /// An interrupt assigned as an SPI that is not in 32..=1019.
    NotAnSpi(u32),
    /// An interrupt assigned as a PPI that is not in 16..=31.
    NotAPpi(u32),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVcpus => write!(f, "a partition needs at least one vCPU"),
            Self::TooManyVcpus(n) => write!(f, "{n} vCPUs, the vGIC supports {MAX_VCPUS}"),
            Self::NoSuchVcpu(i) => write!(f, "vCPU {i} is beyond the partition's vCPUs"),
            Self::NotAnSpi(i) => write!(f, "INTID {i} is not an SPI (32..=1019)"),
            Self::NotAPpi(i) => write!(f, "INTID {i} is not a PPI (16..=31)"),
        }
    }
}

/// The access widths a register accepts (IHI 0069 12.1: 32-bit everywhere, bytes
/// where the register holds a byte per interrupt, 64-bit registers also as 32-bit halves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    Word,
    ByteOrWord,
    WordOrDouble,
}

/// Rejects sizes `width` does not allow and accesses not aligned to their size.
pub(crate) fn check(offset: u64, size: u8, width: Width) -> Result<(), BadAccess> {
    let allowed = match width {
        Width::Word => size == 4,
        Width::ByteOrWord => size == 1 || size == 4,
        Width::WordOrDouble => size == 4 || size == 8,
    };
    // Every allowed size is a power of two.
    if allowed && offset & (u64::from(size) - 1) == 0 {
        Ok(())
    } else {
        Err(BadAccess { offset, size })
    }
}

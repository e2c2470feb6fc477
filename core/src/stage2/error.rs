//! Why a stage-2 operation was refused; every refusal leaves the tables as they were.

use core::fmt;

use super::format::Perms;
use crate::addr::{GuestPhysAddr, HostPhysAddr};

/// A refused stage-2 request. The tables are unchanged unless the variant says otherwise.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage2Error {
    /// The request has size zero.
    EmptyRange {
        /// Start of the request.
        gpa: GuestPhysAddr,
    },
    /// The GPA, the HPA or the size is not a multiple of 4 KiB.
    Misaligned {
        /// Start of the request.
        gpa: GuestPhysAddr,
        /// Host start of the request, for requests that have one.
        hpa: Option<HostPhysAddr>,
        /// Length of the request.
        size: u64,
    },
    /// Part of the request lies at or above `1 << ipa_bits`.
    OutOfIpaRange {
        /// Start of the request.
        gpa: GuestPhysAddr,
        /// Length of the request.
        size: u64,
        /// The format's input address width.
        ipa_bits: u32,
    },
    /// Part of the host range (or a table frame) lies at or above `1 << pa_bits`.
    OutputOutOfRange {
        /// Start of the host range.
        hpa: HostPhysAddr,
        /// Length of the host range.
        size: u64,
        /// The format's output address width.
        pa_bits: u32,
    },
    /// `map` would overwrite a live mapping; `gpa` is the first mapped address found.
    AlreadyMapped {
        /// First already-mapped address inside the request.
        gpa: GuestPhysAddr,
    },
    /// `protect` was asked to change a hole; `gpa` is the first unmapped address found.
    NotMapped {
        /// First unmapped address inside the request.
        gpa: GuestPhysAddr,
    },
    /// The format cannot encode these permissions.
    UnsupportedPerms {
        /// The permissions asked for.
        perms: Perms,
    },
    /// The format's IPA size and start level need a root of more than 16 frames, or a
    /// start level the engine cannot walk.
    UnsupportedGeometry {
        /// The format's input address width.
        ipa_bits: u32,
        /// The format's start level.
        start_level: u8,
    },
    /// The table-frame pool is exhausted.
    OutOfFrames,
}

impl fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::EmptyRange { gpa } => write!(f, "empty range at {gpa}"),
            Self::Misaligned {
                gpa,
                hpa: Some(hpa),
                size,
            } => {
                write!(f, "{gpa} -> {hpa} size {size:#x} is not 4 KiB aligned")
            }
            Self::Misaligned {
                gpa,
                hpa: None,
                size,
            } => {
                write!(f, "{gpa} size {size:#x} is not 4 KiB aligned")
            }
            Self::OutOfIpaRange {
                gpa,
                size,
                ipa_bits,
            } => {
                write!(
                    f,
                    "{gpa} size {size:#x} exceeds the {ipa_bits}-bit IPA space"
                )
            }
            Self::OutputOutOfRange { hpa, size, pa_bits } => {
                write!(f, "{hpa} size {size:#x} exceeds the {pa_bits}-bit PA space")
            }
            Self::AlreadyMapped { gpa } => write!(f, "{gpa} is already mapped"),
            Self::NotMapped { gpa } => write!(f, "{gpa} is not mapped"),
            Self::UnsupportedPerms { perms } => {
                write!(f, "permissions {perms:?} cannot be encoded by this format")
            }
            Self::UnsupportedGeometry {
                ipa_bits,
                start_level,
            } => write!(
                f,
                "a {ipa_bits}-bit IPA space cannot start at level {start_level}"
            ),
            Self::OutOfFrames => write!(f, "out of page-table frames"),
        }
    }
}

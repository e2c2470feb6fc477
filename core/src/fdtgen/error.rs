//! What can go wrong while generating a guest device tree.

use alloc::string::String;
use core::fmt;

use super::node::WriteError;
use crate::dt::{BlobError, PropError};

/// Why a guest device tree could not be generated. Every variant names what it is about
/// (platform-DT path, property) so that the message alone locates the problem.
#[derive(Debug, PartialEq, Eq)]
pub enum FdtGenError {
    /// The platform DTB is not a well-formed device tree.
    PlatformDtb(BlobError),
    /// A device or console is passed through but no platform DTB was given.
    NoPlatform {
        /// The platform-DT path that needed it.
        path: String,
    },
    /// A passthrough device path names no node of the platform DTB.
    UnknownDevice {
        /// The platform-DT path as given.
        path: String,
    },
    /// A property of a passthrough device cannot be carried into the guest.
    Property {
        /// Platform-DT path of the node holding the property.
        path: String,
        /// Property name.
        property: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The spec itself is unusable.
    Spec {
        /// Which part of the spec.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The passthrough console is not one of the partition's devices.
    ConsoleNotPassedThrough {
        /// Platform-DT path of the console.
        path: String,
    },
    /// Two nodes of the guest tree would have the same name.
    DuplicateNode {
        /// The node name, e.g. `pl011@9000000`.
        name: String,
    },
    /// The blob writer refused the tree (too large, bad name).
    Writer(WriteError),
}

impl FdtGenError {
    /// A [`Self::Property`] error.
    pub(super) fn property(path: &str, property: &str, reason: &str) -> Self {
        let (path, property, reason) = (path.into(), property.into(), reason.into());
        Self::Property { path, property, reason }
    }
}

impl From<WriteError> for FdtGenError {
    fn from(e: WriteError) -> Self {
        Self::Writer(e)
    }
}

impl From<BlobError> for FdtGenError {
    fn from(e: BlobError) -> Self {
        Self::PlatformDtb(e)
    }
}

impl From<PropError> for FdtGenError {
    fn from(e: PropError) -> Self {
        Self::Property { path: e.node, property: e.property, reason: e.reason }
    }
}

impl fmt::Display for FdtGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlatformDtb(e) => write!(f, "platform DTB unusable at byte {:#x}: {e}", e.offset),
            Self::NoPlatform { path } => {
                write!(f, "{path}: passthrough needs the platform DTB, none given")
            }
            Self::UnknownDevice { path } => write!(f, "{path}: no such node in the platform DTB"),
            Self::Property { path, property, reason } => {
                write!(f, "{path}: `{property}`: {reason}")
            }
            Self::Spec { field, reason } => write!(f, "guest DT spec: {field}: {reason}"),
            Self::ConsoleNotPassedThrough { path } => {
                write!(f, "{path}: console device is not among the partition's devices")
            }
            Self::DuplicateNode { name } => write!(f, "guest DT would hold two nodes `{name}`"),
            Self::Writer(e) => write!(f, "guest DT writer: {e}"),
        }
    }
}

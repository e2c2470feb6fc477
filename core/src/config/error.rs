//! Config errors: one value naming the device-tree node, the property and the reason.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};
use crate::dt::{BlobError, PropError};

/// Why a config or platform description was rejected.
///
/// Displays as `<node>: <property>: <reason>` (or `<node>: <reason>` when no single
/// property is to blame). The host CLI prefixes the file name; on the target the
/// hypervisor prints it as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Device-tree path of the offending node (`/` for the blob as a whole).
    pub node: String,
    /// The offending property, if one is to blame.
    pub property: Option<String>,
    /// What is wrong, in words.
    pub reason: String,
}

impl ConfigError {
    /// An error about the node `node` as a whole.
    pub fn node(node: &str, reason: impl Into<String>) -> Self {
        Self { node: node.to_string(), property: None, reason: reason.into() }
    }

    /// An error about the property `property` of the node `node`.
    pub fn property(node: &str, property: &str, reason: impl Into<String>) -> Self {
        Self { node: node.to_string(), property: Some(property.to_string()), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.property {
            Some(property) => write!(f, "{}: {}: {}", self.node, property, self.reason),
            None => write!(f, "{}: {}", self.node, self.reason),
        }
    }
}

impl core::error::Error for ConfigError {}

impl From<BlobError> for ConfigError {
    fn from(e: BlobError) -> Self {
        Self { node: e.node, property: None, reason: e.reason }
    }
}

impl From<PropError> for ConfigError {
    fn from(e: PropError) -> Self {
        Self { node: e.node, property: Some(e.property), reason: e.reason }
    }
}

/// `HPA:0x…..HPA:0x…` (end exclusive), the one way messages print a host range.
pub(super) fn hpa_range(range: &Range<HostPhysAddr>) -> String {
    let end = u128::from(range.start.as_u64()) + u128::from(range.size);
    format!("{}..HPA:{:#x}", range.start, end)
}

/// `GPA:0x…..GPA:0x…` (end exclusive), the one way messages print a guest range.
pub(super) fn gpa_range(range: &Range<GuestPhysAddr>) -> String {
    let end = u128::from(range.start.as_u64()) + u128::from(range.size);
    format!("{}..GPA:{:#x}", range.start, end)
}

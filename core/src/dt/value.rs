//! Property values: cells, numbers and strings, each read with its size checked.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::PropError;
use super::tree::Node;

impl<'a> Node<'a> {
    /// An error about property `name` of this node.
    pub fn error(&self, name: &str, reason: impl Into<String>) -> PropError {
        PropError { node: self.path.clone(), property: name.to_string(), reason: reason.into() }
    }

    /// The "wrong size" error for property `name`: `expected <expected>, got <n> bytes`.
    pub fn size_error(&self, name: &str, expected: &str, value: &[u8]) -> PropError {
        self.error(name, format!("expected {expected}, got {}", count(value.len(), "byte")))
    }

    /// Property `name` as one cell.
    pub fn u32(&self, name: &str) -> Result<Option<u32>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match cells(value).as_deref() {
            Some(&[v]) => Ok(Some(v)),
            _ => Err(self.size_error(name, "one cell (4 bytes)", value)),
        }
    }

    /// Property `name` as a number of one or two cells.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match cells(value).as_deref().and_then(join) {
            Some(v) => Ok(Some(v)),
            None => Err(self.size_error(name, "one or two cells (4 or 8 bytes)", value)),
        }
    }

    /// Property `name` as a list of cells.
    pub fn cells(&self, name: &str) -> Result<Option<Vec<u32>>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        cells(value).map(Some).ok_or_else(|| self.size_error(name, "a list of cells", value))
    }

    /// Property `name` as cells making whole entries of `n` cells each, at least one
    /// entry; no cells when it is absent.
    pub fn entries(&self, name: &str, n: usize) -> Result<Vec<u32>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(Vec::new());
        };
        let all = cells(value).filter(|c| n > 0 && !c.is_empty() && c.len() % n == 0);
        all.ok_or_else(|| self.size_error(name, &format!("entries of {}", count(n, "cell")), value))
    }

    /// Property `name` as one non-empty string.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match strings(value).as_deref() {
            Some(&[s]) => Ok(Some(s)),
            _ => Err(self.error(name, "expected a non-empty string")),
        }
    }

    /// Property `name` as a list of non-empty strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        strings(value)
            .map(Some)
            .ok_or_else(|| self.error(name, "expected a list of non-empty strings"))
    }

    /// The node's `phandle` (or older `linux,phandle`).
    pub fn phandle(&self) -> Result<Option<u32>, PropError> {
        Ok(self.u32("phandle")?.or(self.u32("linux,phandle")?))
    }

    /// Whether a well-formed `compatible` names any of `any`.
    pub fn is_compatible(&self, any: &[&str]) -> bool {
        let compatible = self.prop("compatible").and_then(strings).unwrap_or_default();
        compatible.iter().any(|c| any.contains(c))
    }

    /// `(#address-cells, #size-cells)` this node gives its children's `reg`; 2 and 1
    /// where absent (Devicetree Specification v0.4, 2.3.5).
    pub fn cell_sizes(&self) -> Result<(usize, usize), PropError> {
        let address = self.u32("#address-cells")?.unwrap_or(2) as usize;
        let size = self.u32("#size-cells")?.unwrap_or(1) as usize;
        Ok((address, size))
    }
}

/// `n` and `thing`, plural unless `n` is 1: "1 cell", "3 cells".
fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// A value as big-endian cells, or `None` if its length is not a multiple of 4.
pub fn cells(value: &[u8]) -> Option<Vec<u32>> {
    if value.len() & 3 != 0 {
        return None;
    }
    value.chunks_exact(4).map(|c| c.try_into().ok().map(u32::from_be_bytes)).collect()
}

/// One or two cells as a number, most significant first.
pub fn join(cells: &[u32]) -> Option<u64> {
    match *cells {
        [lo] => Some(u64::from(lo)),
        [hi, lo] => Some(u64::from(hi) << 32 | u64::from(lo)),
        _ => None,
    }
}

/// A string-list value (`"a\0b\0"`), or `None` if it is empty, unterminated, not UTF-8
/// or holds an empty string.
pub fn strings(value: &[u8]) -> Option<Vec<&str>> {
    let body = value.strip_suffix(&[0])?;
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).ok().filter(|s| !s.is_empty()))
        .collect()
}

//! Property values: cells, numbers and strings, each read with its size checked.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::PropError;
use super::tree::Node;

impl<'t> Node<'t> {
    /// An error about property `name` of this node.
    pub fn error(self, name: &str, reason: impl Into<String>) -> PropError {
        PropError {
            node: self.path().to_string(),
            property: name.to_string(),
            reason: reason.into(),
        }
    }

    /// The "wrong size" error for property `name`: `expected <expected>, got <n> bytes`.
    pub fn size_error(self, name: &str, expected: &str, value: &[u8]) -> PropError {
        self.error(name, format!("expected {expected}, got {}", count(value.len(), "byte")))
    }

    /// Property `name` as one cell.
    pub fn u32(self, name: &str) -> Result<Option<u32>, PropError> {
        match self.prop(name) {
            None => Ok(None),
            Some(&[a, b, c, d]) => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
            Some(value) => Err(self.size_error(name, "one cell (4 bytes)", value)),
        }
    }

    /// Property `name` as a number of one or two cells.
    pub fn u64(self, name: &str) -> Result<Option<u64>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match value.len() {
            4 | 8 => Ok(Some(value.iter().fold(0, |n, &b| n << 8 | u64::from(b)))),
            _ => Err(self.size_error(name, "one or two cells (4 or 8 bytes)", value)),
        }
    }

    /// Property `name` as a list of cells.
    pub fn cells(self, name: &str) -> Result<Option<Vec<u32>>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        cells(value).map(Some).ok_or_else(|| self.size_error(name, "a list of cells", value))
    }

    /// Property `name` as cells making whole entries of `n` cells each, at least one
    /// entry; no cells when it is absent.
    pub fn entries(self, name: &str, n: usize) -> Result<Vec<u32>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(Vec::new());
        };
        let all = cells(value).filter(|c| n > 0 && !c.is_empty() && c.len() % n == 0);
        all.ok_or_else(|| self.entries_error(name, n, value))
    }

    /// The "wrong size" error for property `name` that should hold entries of `n` cells.
    pub(super) fn entries_error(self, name: &str, n: usize, value: &[u8]) -> PropError {
        self.size_error(name, &format!("entries of {}", count(n, "cell")), value)
    }

    /// Property `name` as one non-empty string.
    pub fn string(self, name: &str) -> Result<Option<&'t str>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match string_list(value) {
            Some(s) if !s.contains('\0') => Ok(Some(s)),
            _ => Err(self.error(name, "expected a non-empty string")),
        }
    }

    /// Property `name` as a list of non-empty strings.
    pub fn strings(self, name: &str) -> Result<Option<Vec<&'t str>>, PropError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        strings(value)
            .map(Some)
            .ok_or_else(|| self.error(name, "expected a list of non-empty strings"))
    }

    /// The node's `phandle` (or older `linux,phandle`).
    pub fn phandle(self) -> Result<Option<u32>, PropError> {
        match self.parsed_phandle() {
            Some(phandle) => Ok(phandle),
            None => Ok(self.u32("phandle")?.or(self.u32("linux,phandle")?)),
        }
    }

    /// Whether a well-formed `compatible` names any of `any`.
    pub fn is_compatible(self, any: &[&str]) -> bool {
        self.prop("compatible").is_some_and(|value| compatible_with(value, any))
    }

    /// `(#address-cells, #size-cells)` this node gives its children's `reg`; 2 and 1
    /// where absent (Devicetree Specification v0.4, 2.3.5).
    pub fn cell_sizes(self) -> Result<(usize, usize), PropError> {
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

/// Whether `value`, a `compatible` list, is well formed and names any of `any`.
pub fn compatible_with(value: &[u8], any: &[&str]) -> bool {
    // Look for a match first, which is rare, and check the list only then.
    let mut names = value.split(|&b| b == 0).filter(|c| !c.is_empty());
    names.any(|c| any.iter().any(|a| a.as_bytes() == c)) && string_list(value).is_some()
}

/// A string-list value (`"a\0b\0"`), or `None` if it is empty, unterminated, not UTF-8
/// or holds an empty string.
pub fn strings(value: &[u8]) -> Option<Vec<&str>> {
    string_list(value).map(|list| list.split('\0').collect())
}

/// A well-formed string-list value (see [`strings`]) without its last NUL: the strings
/// joined by NULs.
fn string_list(value: &[u8]) -> Option<&str> {
    let body = value.strip_suffix(&[0])?;
    // No empty string: no NUL first, last or after another NUL.
    let mut previous = 0;
    for &b in body {
        if b == 0 && previous == 0 {
            return None;
        }
        previous = b;
    }
    if previous == 0 {
        return None;
    }
    core::str::from_utf8(body).ok()
}

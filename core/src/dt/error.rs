//! Errors of the reader: a malformed blob, or a property value of the wrong form.

use alloc::string::String;
use core::fmt;

/// Why a blob is not a well-formed flattened device tree, and where.
///
/// Displays as `<node>: <reason>`, e.g.
/// `/soc: malformed device tree blob: unknown token 0x7`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobError {
    /// Byte offset in the blob where the problem was found.
    pub offset: usize,
    /// Path of the innermost node being read (`/` for the header and the blob as a whole).
    pub node: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.reason)
    }
}

impl core::error::Error for BlobError {}

/// Why a property value is not of the form it was read as.
///
/// Displays as `<node>: <property>: <reason>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropError {
    /// Path of the node holding the property.
    pub node: String,
    /// The property name.
    pub property: String,
    /// What is wrong, e.g. `expected one cell (4 bytes), got 8 bytes`.
    pub reason: String,
}

impl fmt::Display for PropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.node, self.property, self.reason)
    }
}

impl core::error::Error for PropError {}

/// A name or path in a message, in double quotes: `"/pl011@9000000"`. Quotes,
/// backslashes and control characters are escaped as `{:?}` would (other characters
/// are written as they are), without pulling in `Debug`'s Unicode tables.
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut rest = self.0;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c.is_ascii_control()) {
            let (plain, tail) = rest.split_at(at);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            match chars.next() {
                Some('"') => f.write_str("\\\"")?,
                Some('\\') => f.write_str("\\\\")?,
                Some('\0') => f.write_str("\\0")?,
                Some('\t') => f.write_str("\\t")?,
                Some('\r') => f.write_str("\\r")?,
                Some('\n') => f.write_str("\\n")?,
                Some(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                None => {}
            }
            rest = chars.as_str();
        }
        f.write_str(rest)?;
        f.write_str("\"")
    }
}

//! An owned device-tree node: the tree is planned first, then written in one pass.
//!
//! Planning apart from writing lets copied devices refer to clock nodes that are only
//! known once every device has been read, and keeps all `vm_fdt` calls in one place.

use alloc::string::String;
use alloc::vec::Vec;

use vm_fdt::FdtWriter;

use super::FdtGenError;

/// One node: its name, properties in order, and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Node {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<Node>,
}

/// `values` as a DT string list: each followed by a NUL. A NUL inside a value would
/// split it, so it is refused.
pub(super) fn string_list(values: &[&str]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    for v in values {
        if v.contains('\0') {
            return Err("contains a NUL byte");
        }
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// Big-endian cells.
pub(super) fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// `(address, size)` pairs with two cells each, as under `#address-cells = <2>` and
/// `#size-cells = <2>`.
pub(super) fn reg64(pairs: &[(u64, u64)]) -> Vec<u8> {
    pairs.iter().flat_map(|(a, s)| a.to_be_bytes().into_iter().chain(s.to_be_bytes())).collect()
}

impl Node {
    /// An empty node called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// Adds a raw property.
    pub fn raw(&mut self, name: &str, value: Vec<u8>) -> &mut Self {
        self.props.push((String::from(name), value));
        self
    }

    /// Adds an empty (boolean) property.
    pub fn flag(&mut self, name: &str) -> &mut Self {
        self.raw(name, Vec::new())
    }

    /// Adds a one-cell property.
    pub fn u32(&mut self, name: &str, value: u32) -> &mut Self {
        self.raw(name, cells(&[value]))
    }

    /// Adds a string-list property from literals (which hold no NUL).
    pub fn strs(&mut self, name: &str, values: &[&str]) -> &mut Self {
        self.raw(name, string_list(values).unwrap_or_default())
    }

    /// Adds a string property from input, refusing one with a NUL byte.
    pub fn text(
        &mut self,
        name: &str,
        value: &str,
        field: &'static str,
    ) -> Result<(), FdtGenError> {
        let bytes = string_list(&[value]).map_err(|reason| FdtGenError::Spec { field, reason })?;
        self.raw(name, bytes);
        Ok(())
    }

    /// Appends this node and its subtree to `w`.
    fn write_into(&self, w: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let handle = w.begin_node(&self.name)?;
        for (name, value) in &self.props {
            w.property(name, value)?;
        }
        for child in &self.children {
            child.write_into(w)?;
        }
        w.end_node(handle)
    }

    /// This node as the root of a DTB.
    pub fn to_dtb(&self) -> Result<Vec<u8>, FdtGenError> {
        let mut w = FdtWriter::new()?;
        self.write_into(&mut w)?;
        Ok(w.finish()?)
    }
}

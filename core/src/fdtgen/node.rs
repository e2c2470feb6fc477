//! A planned device-tree node: the tree is planned first, then written in one pass.
//!
//! Planning apart from writing lets copied devices refer to clock nodes that are only
//! known once every device has been read. Names and values are borrowed where they
//! can be (literals, properties copied from the platform DTB), so planning allocates
//! little; [`Node::to_dtb`] writes the blob in the layout `dtc` and `vm-fdt` use.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use super::FdtGenError;

/// One node: its name, properties in order, and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Node<'a> {
    pub name: Cow<'a, str>,
    pub props: Vec<(&'a str, Value<'a>)>,
    pub children: Vec<Node<'a>>,
    /// The values made for this node (cells, strings), end to end: one buffer, not
    /// one allocation per property.
    data: Vec<u8>,
}

/// A property value: borrowed (a literal, or a property copied from the platform
/// DTB), or made for the node and kept in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Value<'a> {
    /// These bytes.
    Borrowed(&'a [u8]),
    /// `len` bytes at `at` in the node's buffer.
    Made { at: u32, len: u32 },
}

/// Why a string for the guest DT is refused: a NUL inside it would split it.
pub(super) const NUL_IN_STRING: &str = "contains a NUL byte";

impl<'a> Node<'a> {
    /// An empty node called `name`.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Self {
        let (props, data) = (Vec::with_capacity(8), Vec::with_capacity(64));
        Self { name: name.into(), props, children: Vec::new(), data }
    }

    /// The bytes of `value`, a value of this node.
    pub fn value(&self, value: Value<'a>) -> &[u8] {
        match value {
            Value::Borrowed(bytes) => bytes,
            Value::Made { at, len } => {
                self.data.get(at as usize..(at + len) as usize).unwrap_or_default()
            }
        }
    }

    /// Appends `parts` to the node's buffer as one value.
    fn make(&mut self, parts: &[&[u8]]) -> Value<'a> {
        let at = self.data.len();
        for part in parts {
            self.data.extend_from_slice(part);
        }
        Value::Made { at: at as u32, len: (self.data.len() - at) as u32 }
    }

    /// Adds a property with a borrowed value.
    pub fn raw(&mut self, name: &'a str, value: &'a [u8]) -> &mut Self {
        self.props.push((name, Value::Borrowed(value)));
        self
    }

    /// Adds a property with a copy of `value`.
    pub fn bytes(&mut self, name: &'a str, value: &[u8]) -> &mut Self {
        let value = self.make(&[value]);
        self.props.push((name, value));
        self
    }

    /// Adds a property of big-endian cells.
    pub fn cells(&mut self, name: &'a str, values: &[u32]) -> &mut Self {
        let at = self.data.len();
        for v in values {
            self.data.extend_from_slice(&v.to_be_bytes());
        }
        let value = Value::Made { at: at as u32, len: (self.data.len() - at) as u32 };
        self.props.push((name, value));
        self
    }

    /// Adds `(address, size)` pairs with two cells each, as under `#address-cells = <2>`
    /// and `#size-cells = <2>`.
    pub fn reg64(&mut self, name: &'a str, pairs: &[(u64, u64)]) -> &mut Self {
        let value = self.reg64_value(pairs);
        self.props.push((name, value));
        self
    }

    /// `pairs` as a two-cell `reg` value in the node's buffer.
    pub fn reg64_value(&mut self, pairs: &[(u64, u64)]) -> Value<'a> {
        let at = self.data.len();
        for (address, size) in pairs {
            self.data.extend_from_slice(&address.to_be_bytes());
            self.data.extend_from_slice(&size.to_be_bytes());
        }
        Value::Made { at: at as u32, len: (self.data.len() - at) as u32 }
    }

    /// Adds an empty (boolean) property.
    pub fn flag(&mut self, name: &'a str) -> &mut Self {
        self.raw(name, &[])
    }

    /// Adds a one-cell property.
    pub fn u32(&mut self, name: &'a str, value: u32) -> &mut Self {
        self.cells(name, &[value])
    }

    /// Adds a string-list property from literals (which hold no NUL).
    pub fn strs(&mut self, name: &'a str, values: &[&str]) -> &mut Self {
        let at = self.data.len();
        for v in values {
            self.data.extend_from_slice(v.as_bytes());
            self.data.push(0);
        }
        let value = Value::Made { at: at as u32, len: (self.data.len() - at) as u32 };
        self.props.push((name, value));
        self
    }

    /// Adds a string property from input, refusing one with a NUL byte.
    pub fn text(
        &mut self,
        name: &'a str,
        value: &str,
        field: &'static str,
    ) -> Result<(), FdtGenError> {
        if value.contains('\0') {
            return Err(FdtGenError::Spec { field, reason: NUL_IN_STRING });
        }
        self.strs(name, &[value]);
        Ok(())
    }

    /// Appends this node and its subtree to `w`.
    fn write_into(&'a self, w: &mut Writer<'a>) -> Result<(), WriteError> {
        w.begin_node(&self.name)?;
        for &(name, value) in &self.props {
            w.property(name, self.value(value))?;
        }
        for child in &self.children {
            child.write_into(w)?;
        }
        w.end_node();
        Ok(())
    }

    /// The size of this node and its subtree in the structure block.
    fn struct_size(&self) -> usize {
        let props = self.props.iter().map(|&(_, v)| 12 + self.value(v).len().next_multiple_of(4));
        let children = self.children.iter().map(Node::struct_size);
        8 + (self.name.len() + 1).next_multiple_of(4)
            + props.sum::<usize>()
            + children.sum::<usize>()
    }

    /// This node as the root of a DTB.
    pub fn to_dtb(&self) -> Result<Vec<u8>, FdtGenError> {
        let mut w = Writer::new(self.struct_size());
        self.write_into(&mut w)?;
        Ok(w.finish()?)
    }
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
/// The empty memory reservation map after the header: its terminating entry.
const RESERVATION_MAP_LEN: usize = 16;
const MAX_NAME_LEN: usize = 31;
const MAX_DEPTH: usize = 64;

/// Why a planned tree cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// A node or property name holds a NUL.
    InvalidString,
    /// A node name is not `name[@unit-address]` as the Devicetree Specification
    /// (v0.4, 2.2.1) allows.
    InvalidNodeName,
    /// A property name is not one the Devicetree Specification (v0.4, 2.2.4) allows.
    InvalidPropertyName,
    /// Nodes nest deeper than 64.
    NodeDepthTooLarge,
    /// A property value is 4 GiB or more.
    PropertyValueTooLarge,
    /// The blob would be 4 GiB or more.
    TotalSizeTooLarge,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidString => "Strings cannot contain NUL",
            Self::InvalidNodeName => "Invalid node name",
            Self::InvalidPropertyName => "Invalid property name",
            Self::NodeDepthTooLarge => "Node depth exceeds FDT_MAX_NODE_DEPTH",
            Self::PropertyValueTooLarge => "Property value size must fit in 32 bits",
            Self::TotalSizeTooLarge => "Total size must fit in 32 bits",
        })
    }
}

/// A flattened-device-tree writer (Devicetree Specification v0.4, chapter 5): header,
/// an empty memory reservation map, the structure block, then the strings block with
/// each property name once, in order of first use.
struct Writer<'a> {
    /// The blob so far, allocated zeroed at its final size but for the strings block
    /// (so padding is already in place).
    data: Vec<u8>,
    /// Where the next structure-block item goes.
    at: usize,
    strings: Vec<u8>,
    /// The names in the strings block and their offsets.
    names: Vec<(&'a str, u32)>,
    /// An open-addressing index over `names` (1 + index; 0 is empty) while it has room.
    index: [u16; NAME_SLOTS],
    depth: usize,
}

/// Slots of [`Writer::index`]; past three quarters full, names are looked up by a scan.
const NAME_SLOTS: usize = 128;

/// Where `name` goes in [`Writer::index`]: a hash of its length and first and last bytes.
fn name_slot(name: &str) -> usize {
    let bytes = name.as_bytes();
    let (first, last) = (bytes.first().copied(), bytes.last().copied());
    let hash =
        name.len() * 31 + usize::from(first.unwrap_or(0)) * 7 + usize::from(last.unwrap_or(0));
    hash % NAME_SLOTS
}

impl<'a> Writer<'a> {
    /// A writer for a structure block of `size` bytes without its end token.
    fn new(size: usize) -> Self {
        let at = HEADER_LEN + RESERVATION_MAP_LEN;
        let data = alloc::vec![0; at + size + 4];
        let (strings, names) = (Vec::with_capacity(512), Vec::with_capacity(32));
        Self { data, at, strings, names, index: [0; NAME_SLOTS], depth: 0 }
    }

    /// Puts `bytes` at the write position and moves past them and their padding.
    fn put(&mut self, bytes: &[u8]) {
        if let Some(slot) = self.data.get_mut(self.at..self.at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        self.at += bytes.len().next_multiple_of(4);
    }

    fn word(&mut self, value: u32) {
        if let Some(slot) = self.data.get_mut(self.at..self.at + 4) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        self.at += 4;
    }

    fn begin_node(&mut self, name: &str) -> Result<(), WriteError> {
        if self.depth >= MAX_DEPTH {
            return Err(WriteError::NodeDepthTooLarge);
        }
        if !node_name_valid(name) {
            // A NUL is reported as such, as `vm-fdt` and its users expect.
            return Err(if name.contains('\0') {
                WriteError::InvalidString
            } else {
                WriteError::InvalidNodeName
            });
        }
        self.word(FDT_BEGIN_NODE);
        // The name, then its NUL and padding (zeros already there).
        if let Some(slot) = self.data.get_mut(self.at..self.at + name.len()) {
            slot.copy_from_slice(name.as_bytes());
        }
        self.at += (name.len() + 1).next_multiple_of(4);
        self.depth += 1;
        Ok(())
    }

    fn end_node(&mut self) {
        self.word(FDT_END_NODE);
        self.depth -= 1;
    }

    fn property(&mut self, name: &'a str, value: &[u8]) -> Result<(), WriteError> {
        let offset = self.intern(name)?;
        let len = u32::try_from(value.len()).map_err(|_| WriteError::PropertyValueTooLarge)?;
        self.word(FDT_PROP);
        self.word(len);
        self.word(offset);
        self.put(value);
        Ok(())
    }

    /// The offset of `name` in the strings block, adding it (once checked) on first use.
    fn intern(&mut self, name: &'a str) -> Result<u32, WriteError> {
        let indexed = self.names.len() < NAME_SLOTS * 3 / 4;
        let mut slot = name_slot(name);
        if indexed {
            while let Some(i) = self.index[slot].checked_sub(1) {
                let (n, offset) = self.names[usize::from(i)];
                if n == name {
                    return Ok(offset);
                }
                slot = (slot + 1) % NAME_SLOTS;
            }
        } else if let Some(&(_, offset)) = self.names.iter().find(|(n, _)| *n == name) {
            return Ok(offset);
        }
        if !property_name_valid(name) {
            return Err(if name.contains('\0') {
                WriteError::InvalidString
            } else {
                WriteError::InvalidPropertyName
            });
        }
        let offset =
            u32::try_from(self.strings.len()).map_err(|_| WriteError::TotalSizeTooLarge)?;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        if indexed && self.names.len() + 1 < NAME_SLOTS * 3 / 4 {
            self.index[slot] = self.names.len() as u16 + 1;
        }
        self.names.push((name, offset));
        Ok(offset)
    }

    fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        self.word(FDT_END);
        self.data.truncate(self.at);
        let size = |n: usize| u32::try_from(n).map_err(|_| WriteError::TotalSizeTooLarge);
        let off_struct = HEADER_LEN + RESERVATION_MAP_LEN;
        let off_strings = size(self.data.len())?;
        let total = size(self.data.len().saturating_add(self.strings.len()))?;
        let header = [
            FDT_MAGIC,
            total,
            off_struct as u32,
            off_strings,
            HEADER_LEN as u32,
            17, // version
            16, // last compatible version
            0,  // boot CPU
            size(self.strings.len())?,
            off_strings - off_struct as u32,
        ];
        for (slot, word) in self.data.chunks_exact_mut(4).zip(header) {
            slot.copy_from_slice(&word.to_be_bytes());
        }
        self.data.extend_from_slice(&self.strings);
        Ok(self.data)
    }
}

/// Whether byte `c` is in `set`, a bitmap of ASCII characters.
fn in_set(set: u128, c: u8) -> bool {
    c < 128 && set >> c & 1 == 1
}

/// The bitmap of `chars` (ASCII only).
const fn ascii_set(chars: &[u8]) -> u128 {
    let mut set = 0;
    let mut i = 0;
    while i < chars.len() {
        set |= 1 << chars[i];
        i += 1;
    }
    set
}

/// Letters and digits.
const ALNUM: u128 = ascii_set(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
/// What node names are made of (Devicetree Specification v0.4, table 2.1).
const NODE_CHARS: u128 = ALNUM | ascii_set(b",._+-");
/// What property names are made of (Devicetree Specification v0.4, table 2.2).
const PROPERTY_CHARS: u128 = ALNUM | ascii_set(b",._+?#-");

/// `name[@unit-address]`: a name of 1 to 31 characters starting with a letter, from
/// letters, digits and `,._+-`, and an optional unit address from the same characters
/// (the root's empty name is accepted too).
fn node_name_valid(name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    let (base, unit) = match name.split_once('@') {
        Some((base, unit)) => (base, Some(unit)),
        None => (name, None),
    };
    !base.is_empty()
        && base.len() <= MAX_NAME_LEN
        && base.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && base.bytes().all(|c| in_set(NODE_CHARS, c))
        && unit.is_none_or(|u| u.bytes().all(|c| in_set(NODE_CHARS, c)))
}

/// A property name: 1 to 31 characters from letters, digits and `,._+?#-`.
fn property_name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|c| in_set(PROPERTY_CHARS, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(node: &Node<'_>) -> Result<Vec<u8>, WriteError> {
        node.to_dtb().map_err(|e| match e {
            FdtGenError::Writer(e) => e,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn writes_the_layout_of_dtc_and_vm_fdt() {
        let mut root = Node::new("");
        root.u32("#address-cells", 2).strs("compatible", &["a,b"]);
        let mut child = Node::new("dev@1000");
        child.flag("ok").raw("compatible", b"a,b\0");
        root.children.push(child);
        let blob = written(&root).unwrap();
        let word = |i: usize| u32::from_be_bytes(blob[i * 4..i * 4 + 4].try_into().unwrap());
        // Header, empty reservation map at 40, structure at 56, strings after it.
        assert_eq!([word(0), word(2), word(4), word(5), word(6)], [0xd00d_feed, 56, 40, 17, 16]);
        assert_eq!(word(1) as usize, blob.len());
        assert_eq!(&blob[word(3) as usize..], b"#address-cells\0compatible\0ok\0");
        assert_eq!(word(9), word(3) - 56, "structure block size");
        let tree = crate::dt::Tree::parse(&blob).unwrap();
        let dev = tree.find("/dev@1000").unwrap();
        assert_eq!(dev.props().map(|p| p.name).collect::<Vec<_>>(), ["ok", "compatible"]);
        assert_eq!(tree.root().u32("#address-cells"), Ok(Some(2)));
    }

    #[test]
    fn stores_each_name_once_however_many() {
        let names: Vec<alloc::string::String> = (0..200).map(|i| alloc::format!("p{i}")).collect();
        let mut root = Node::new("");
        for _ in 0..2 {
            let mut child = Node::new("c");
            for (i, name) in names.iter().enumerate() {
                child.u32(name, i as u32);
            }
            root.children.push(child);
        }
        let blob = written(&root).unwrap();
        let tree = crate::dt::Tree::parse(&blob).unwrap();
        for c in tree.root().children() {
            let got: Vec<(&str, Option<u32>)> =
                c.props().map(|p| (p.name, c.u32(p.name).unwrap())).collect();
            let want: Vec<(&str, Option<u32>)> =
                names.iter().zip(0..).map(|(n, i)| (n.as_str(), Some(i))).collect();
            assert_eq!(got, want);
        }
        let strings = u32::from_be_bytes(blob[12..16].try_into().unwrap()) as usize;
        let mut want = Vec::new();
        for name in &names {
            want.extend_from_slice(name.as_bytes());
            want.push(0);
        }
        assert_eq!(&blob[strings..], &want[..], "each name once, in order of first use");
    }

    #[test]
    fn refuses_what_the_specification_does_not_allow() {
        let bad_node = |name: &'static str| written(&Node::new(name)).map(drop);
        assert_eq!(bad_node("1abc"), Err(WriteError::InvalidNodeName));
        assert_eq!(bad_node("a@b@c"), Err(WriteError::InvalidNodeName));
        assert_eq!(bad_node("a\0b"), Err(WriteError::InvalidString));
        assert_eq!(
            bad_node("abcdefghijklmnopqrstuvwxyz012345@1"),
            Err(WriteError::InvalidNodeName)
        );
        assert_eq!(bad_node("serial@9000000"), Ok(()));
        let bad_prop = |name: &'static str| {
            let mut n = Node::new("");
            n.flag(name);
            written(&n).map(drop)
        };
        assert_eq!(bad_prop("a b"), Err(WriteError::InvalidPropertyName));
        assert_eq!(bad_prop(""), Err(WriteError::InvalidPropertyName));
        assert_eq!(bad_prop("a\0"), Err(WriteError::InvalidString));
        assert_eq!(bad_prop("#size-cells"), Ok(()));
        let mut deep = Node::new("n");
        for _ in 0..64 {
            deep = Node { children: alloc::vec![deep], ..Node::new("n") };
        }
        assert_eq!(written(&deep).map(drop), Err(WriteError::NodeDepthTooLarge));
    }
}

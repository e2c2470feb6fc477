//! Blob to [`Tree`]: the header, then the structure block token by token, with every
//! offset and length bounds-checked (Devicetree Specification v0.4, 5.2 and 5.4).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::{BlobError, Quoted};
use super::tree::{Entry, RawProp, Strings, Tree};

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
/// Deeper trees are rejected, which also bounds every recursive walk over a [`Tree`].
pub const MAX_DEPTH: usize = 32;

impl<'a> Tree<'a> {
    /// Checks `blob` (header, blocks, tokens, names, nesting) and builds its tree. Any
    /// defect is a [`BlobError`]; no input makes it panic.
    pub fn parse(blob: &'a [u8]) -> Result<Self, BlobError> {
        let (structs, base, strings) = blocks(blob)?;
        let copy: Vec<u32>;
        let words = match aligned_words(structs) {
            Some(words) => words,
            None => {
                copy = structs
                    .chunks_exact(4)
                    .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
                    .collect();
                &copy
            }
        };
        let cursor = Cursor { bytes: structs, words, pos: 0 };
        let mut reader = Reader::new(cursor, base, Strings::new(strings));
        reader.root()?;
        loop {
            let at = reader.cursor.pos;
            match reader.cursor.u32() {
                Some(FDT_NOP) => {}
                Some(FDT_END) => return Ok(reader.finish()),
                _ => {
                    return Err(
                        reader.malformed(at, "expected the end of the structure after the root")
                    )
                }
            }
        }
    }
}

/// `bytes` as native-endian words, when it starts on a 4-byte boundary (a blob in a
/// heap buffer does): tokens are then read a word at a time, not a byte at a time
/// (the aarch64 target forbids unaligned loads, so a byte slice is read bytewise).
fn aligned_words(bytes: &[u8]) -> Option<&[u32]> {
    // SAFETY: every bit pattern is a valid `u32`, and `align_to` only hands out the
    // correctly aligned middle part of the slice.
    let (head, words, _) = unsafe { bytes.align_to::<u32>() };
    head.is_empty().then_some(words)
}

fn header(offset: usize, reason: String) -> BlobError {
    BlobError { offset, node: "/".to_string(), reason }
}

/// Checks the header; returns the structure block, its offset and the strings block.
fn blocks(blob: &[u8]) -> Result<(&[u8], usize, &[u8]), BlobError> {
    let word = |i: usize| be32(blob, i * 4).unwrap_or(0);
    if blob.len() < HEADER_LEN {
        let reason =
            format!("truncated device tree blob: {} bytes, shorter than a header", blob.len());
        return Err(header(blob.len(), reason));
    }
    if word(0) != FDT_MAGIC {
        let reason =
            format!("not a device tree blob (magic {:#010x}, expected 0xd00dfeed)", word(0));
        return Err(header(0, reason));
    }
    let total = word(1) as usize;
    let blob = blob.get(..total).ok_or_else(|| {
        let reason =
            format!("truncated device tree blob: header says {total} bytes, got {}", blob.len());
        header(4, reason)
    })?;
    if word(5) < 17 || word(6) > 17 {
        return Err(header(20, format!("unsupported device tree version {} (need 17)", word(5))));
    }
    let block = |field: usize, len: u32, what: &str| {
        let off = word(field) as usize;
        let block = off.checked_add(len as usize).and_then(|end| blob.get(off..end));
        let reason = || format!("malformed device tree blob: {what} block lies outside the blob");
        block.filter(|_| off & 3 == 0).map(|b| (b, off)).ok_or_else(|| header(field * 4, reason()))
    };
    let (structs, base) = block(2, word(9), "structure")?;
    let (strings, _) = block(3, word(8), "strings")?;
    Ok((structs, base, strings))
}

/// The walk over the structure block, building the tree's tables as it goes.
struct Reader<'a, 'w> {
    cursor: Cursor<'a, 'w>,
    base: usize,
    tree: Tree<'a>,
    /// Indices of the nodes begun and not yet ended, outermost first.
    open: [u32; MAX_DEPTH],
    depth: usize,
    /// Whether the innermost open node may still get properties (no child yet), and
    /// the values of its first `phandle` and `linux,phandle` so far.
    props_open: bool,
    phandle: Option<&'a [u8]>,
    linux_phandle: Option<&'a [u8]>,
}

impl<'a, 'w> Reader<'a, 'w> {
    fn new(cursor: Cursor<'a, 'w>, base: usize, strings: Strings<'a>) -> Self {
        // Rough sizes for a typical blob, so that the tables seldom grow.
        let len = cursor.bytes.len();
        let tree = Tree {
            nodes: Vec::with_capacity(len / 128 + 4),
            props: Vec::with_capacity(len / 24 + 4),
            phandles: Vec::new(),
            strings,
        };
        Reader {
            cursor,
            base,
            tree,
            open: [0; MAX_DEPTH],
            depth: 0,
            props_open: false,
            phandle: None,
            linux_phandle: None,
        }
    }

    /// Reads the root node and everything in it.
    fn root(&mut self) -> Result<(), BlobError> {
        loop {
            let at = self.cursor.pos;
            let Some(token) = self.cursor.u32() else {
                return Err(self.malformed(at, "structure block ends inside a node"));
            };
            match token {
                FDT_BEGIN_NODE => self.begin_node(at)?,
                FDT_PROP => self.property(at)?,
                FDT_NOP => {}
                FDT_END_NODE => {
                    if self.depth == 0 {
                        return Err(self.malformed(at, "node end without a node"));
                    }
                    self.end_node();
                    if self.depth == 0 {
                        return Ok(());
                    }
                }
                FDT_END => return Err(self.malformed(at, "structure ends inside a node")),
                other => return Err(self.malformed(at, &format!("unknown token {other:#x}"))),
            }
        }
    }

    fn finish(self) -> Tree<'a> {
        self.tree
    }

    fn malformed(&self, at: usize, what: &str) -> BlobError {
        let node = self.open_path("");
        self.malformed_at(at, &node, what)
    }

    /// The path of the innermost open node (`/` when none is), with `child` appended.
    fn open_path(&self, child: &str) -> String {
        let mut path = String::new();
        let open = self.open.get(1..self.depth).unwrap_or_default();
        for name in open.iter().filter_map(|&i| self.tree.nodes.get(i as usize)).map(|n| n.name) {
            path.push('/');
            path.push_str(name);
        }
        if !child.is_empty() || path.is_empty() {
            path.push('/');
            path.push_str(child);
        }
        path
    }

    fn malformed_at(&self, at: usize, node: &str, what: &str) -> BlobError {
        BlobError {
            offset: self.base.saturating_add(at),
            node: node.to_string(),
            reason: format!("malformed device tree blob: {what}"),
        }
    }

    fn begin_node(&mut self, at: usize) -> Result<(), BlobError> {
        let name = self.cursor.node_name();
        let name =
            name.ok_or_else(|| self.malformed(at, "node name runs past the structure block"))?;
        let name = match name {
            Name::Plain(name) => name,
            Name::Other(name) => {
                let name = core::str::from_utf8(name)
                    .map_err(|_| self.malformed(at, "node name is not UTF-8"))?;
                if self.depth > 0 && name.contains('/') {
                    return Err(self.malformed(
                        at,
                        &format!("bad child node name {name}", name = Quoted(name)),
                    ));
                }
                name
            }
        };
        match self.depth {
            0 if !name.is_empty() => return Err(self.malformed(at, "the root node has a name")),
            1.. if name.is_empty() => {
                return Err(
                    self.malformed(at, &format!("bad child node name {name}", name = Quoted(name)))
                )
            }
            _ => {}
        }
        if self.depth >= MAX_DEPTH {
            let what = format!("nodes nested deeper than {MAX_DEPTH}");
            return Err(self.malformed_at(at, &self.open_path(name), &what));
        }
        self.seal();
        let index = self.tree.nodes.len() as u32;
        let parent = self.depth.checked_sub(1).map_or(0, |d| self.open[d]);
        if let Some(parent) = self.tree.nodes.get_mut(parent as usize).filter(|_| self.depth > 0) {
            parent.children += 1;
        }
        let props = self.tree.props.len() as u32;
        let entry =
            Entry { name, parent, props: (props, props), end: 0, children: 0, phandle: None };
        self.tree.nodes.push(entry);
        self.open[self.depth] = index;
        self.depth += 1;
        self.props_open = true;
        Ok(())
    }

    fn end_node(&mut self) {
        self.seal();
        self.depth -= 1;
        let end = self.tree.nodes.len() as u32;
        if let Some(node) = self.tree.nodes.get_mut(self.open[self.depth] as usize) {
            node.end = end;
        }
    }

    /// Closes the innermost open node's property list and records its phandle, as
    /// [`super::Node::phandle`] reads it (`None` for an error).
    fn seal(&mut self) {
        if !core::mem::take(&mut self.props_open) {
            return;
        }
        let cell = |v: Option<&[u8]>| match v {
            None => Ok(None),
            Some(&[a, b, c, d]) => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
            Some(_) => Err(()),
        };
        let (phandle, linux) = (self.phandle.take(), self.linux_phandle.take());
        let phandle = match (cell(phandle), cell(linux)) {
            (Ok(p), Ok(l)) => Some(p.or(l)),
            _ => None,
        };
        let index = self.open[self.depth - 1];
        if let Some(Some(p)) = phandle {
            self.tree.phandles.push((p, index));
        }
        if let Some(node) = self.tree.nodes.get_mut(index as usize) {
            node.phandle = phandle;
        }
    }

    fn property(&mut self, at: usize) -> Result<(), BlobError> {
        if self.depth == 0 {
            return Err(self.malformed(at, "property outside any node"));
        }
        let (Some(len), Some(name)) = (self.cursor.u32(), self.cursor.u32()) else {
            return Err(self.malformed(at, "property header runs past the structure block"));
        };
        let value = self.cursor.bytes(len as usize);
        let value =
            value.ok_or_else(|| self.malformed(at, "property runs past the structure block"))?;
        let strings = &self.tree.strings;
        if !strings.is_name(name as usize) {
            return Err(self.malformed(at, "property name is not a string in the strings block"));
        }
        if !self.props_open {
            let name = strings.name(name as usize);
            return Err(self.malformed(
                at,
                &format!("property {name} after a child node", name = Quoted(name)),
            ));
        }
        if strings.is(name as usize, "phandle") {
            self.phandle = self.phandle.or(Some(value));
        } else if strings.is(name as usize, "linux,phandle") {
            self.linux_phandle = self.linux_phandle.or(Some(value));
        }
        self.tree.props.push(RawProp { name, value });
        if let Some(node) = self.tree.nodes.last_mut() {
            node.props.1 += 1;
        }
        Ok(())
    }
}

/// A read position in the structure block (always a multiple of 4); every read is
/// bounds-checked.
struct Cursor<'a, 'w> {
    bytes: &'a [u8],
    /// The same block as native-endian words (a whole number of them).
    words: &'w [u32],
    pos: usize,
}

impl<'a> Cursor<'a, '_> {
    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_be(*self.words.get(self.pos / 4)?);
        self.pos += 4;
        Some(v)
    }

    /// `len` bytes, then skip the padding to the next 4-byte boundary.
    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let bytes = self.bytes.get(self.pos..end)?;
        self.pos = end.checked_add(3)? & !3;
        Some(bytes)
    }

    /// A node name: NUL-terminated, then padding. Scanned a word at a time for the NUL
    /// (the "has a zero byte" test of Hacker's Delight 6-1), and for bytes that make it
    /// other than plain ASCII without `/`.
    fn node_name(&mut self) -> Option<Name<'a>> {
        const ONES: u32 = 0x0101_0101;
        const HIGH: u32 = 0x8080_8080;
        let zero = |w: u32| w.wrapping_sub(ONES) & !w & HIGH != 0;
        let first = self.pos / 4;
        let rest = self.words.get(first..)?;
        let mut plain = true;
        let mut skip = rest.len();
        for (i, &w) in rest.iter().enumerate() {
            if zero(w) {
                skip = i;
                break;
            }
            plain &= w & HIGH == 0 && !zero(w ^ (ONES * u32::from(b'/')));
        }
        let at = (first + skip) * 4;
        let tail = self.bytes.get(at..)?;
        let nul = tail.iter().position(|&b| b == 0)?;
        plain &= tail.get(..nul).is_some_and(|t| t.iter().all(|&b| b < 0x80 && b != b'/'));
        let len = at + nul - self.pos;
        let name = self.bytes(len + 1)?.get(..len)?;
        if !plain {
            return Some(Name::Other(name));
        }
        // SAFETY: every byte of `name` was just checked to be ASCII, which is UTF-8.
        Some(Name::Plain(unsafe { core::str::from_utf8_unchecked(name) }))
    }
}

/// A node name as [`Cursor::node_name`] finds it.
enum Name<'a> {
    /// ASCII without `/`: a good name (but for being empty).
    Plain(&'a str),
    /// Anything else, to be checked.
    Other(&'a [u8]),
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    word.try_into().ok().map(u32::from_be_bytes)
}

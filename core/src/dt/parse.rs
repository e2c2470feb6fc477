//! Blob to [`Tree`]: the header, then the structure block token by token, with every
//! offset and length bounds-checked (Devicetree Specification v0.4, 5.2 and 5.4).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::BlobError;
use super::tree::{Node, Prop, Tree};

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
        let cursor = Cursor { block: structs, pos: 0 };
        let mut reader = Reader { cursor, base, strings, open: Vec::new() };
        let root = reader.root()?;
        loop {
            let at = reader.cursor.pos;
            match reader.cursor.u32() {
                Some(FDT_NOP) => {}
                Some(FDT_END) => return Ok(Self { root }),
                _ => {
                    return Err(
                        reader.malformed(at, "expected the end of the structure after the root")
                    )
                }
            }
        }
    }
}

/// A header error: about the blob as a whole.
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

/// The walk over the structure block: the nodes opened and not yet closed.
struct Reader<'a> {
    cursor: Cursor<'a>,
    /// Offset of the structure block in the blob, for error offsets.
    base: usize,
    strings: &'a [u8],
    open: Vec<Node<'a>>,
}

impl<'a> Reader<'a> {
    /// Reads tokens up to the end of the root node.
    fn root(&mut self) -> Result<Node<'a>, BlobError> {
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
                    let Some(node) = self.open.pop() else {
                        return Err(self.malformed(at, "node end without a node"));
                    };
                    match self.open.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                FDT_END => return Err(self.malformed(at, "structure ends inside a node")),
                other => return Err(self.malformed(at, &format!("unknown token {other:#x}"))),
            }
        }
    }

    /// A structure error at block position `at`, about the innermost open node.
    fn malformed(&self, at: usize, what: &str) -> BlobError {
        let node = self.open.last().map_or("/", |n| n.path.as_str());
        self.malformed_at(at, node, what)
    }

    fn malformed_at(&self, at: usize, node: &str, what: &str) -> BlobError {
        BlobError {
            offset: self.base.saturating_add(at),
            node: node.to_string(),
            reason: format!("malformed device tree blob: {what}"),
        }
    }

    fn begin_node(&mut self, at: usize) -> Result<(), BlobError> {
        let name = self.cursor.cstr();
        let name =
            name.ok_or_else(|| self.malformed(at, "node name runs past the structure block"))?;
        let name =
            core::str::from_utf8(name).map_err(|_| self.malformed(at, "node name is not UTF-8"))?;
        let path = match self.open.last().map(|n| n.path.as_str()) {
            None if name.is_empty() => "/".to_string(),
            None => return Err(self.malformed(at, "the root node has a name")),
            Some(_) if name.is_empty() || name.contains('/') => {
                return Err(self.malformed(at, &format!("bad child node name {name:?}")))
            }
            Some("/") => format!("/{name}"),
            Some(p) => format!("{p}/{name}"),
        };
        if self.open.len() >= MAX_DEPTH {
            let what = format!("nodes nested deeper than {MAX_DEPTH}");
            return Err(self.malformed_at(at, &path, &what));
        }
        self.open.push(Node { name, path, props: Vec::new(), children: Vec::new() });
        Ok(())
    }

    fn property(&mut self, at: usize) -> Result<(), BlobError> {
        if self.open.is_empty() {
            return Err(self.malformed(at, "property outside any node"));
        }
        let (Some(len), Some(name_off)) = (self.cursor.u32(), self.cursor.u32()) else {
            return Err(self.malformed(at, "property header runs past the structure block"));
        };
        let value = self.cursor.bytes(len as usize);
        let value =
            value.ok_or_else(|| self.malformed(at, "property runs past the structure block"))?;
        let name = self.strings.get(name_off as usize..);
        let name = name.and_then(|s| Cursor { block: s, pos: 0 }.cstr());
        let name = name.and_then(|n| core::str::from_utf8(n).ok()).filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| {
            self.malformed(at, "property name is not a string in the strings block")
        })?;
        if self.open.last().is_some_and(|n| !n.children.is_empty()) {
            return Err(self.malformed(at, &format!("property {name:?} after a child node")));
        }
        if let Some(node) = self.open.last_mut() {
            node.props.push(Prop { name, value });
        }
        Ok(())
    }
}

/// A read position in a block; every read is bounds-checked.
struct Cursor<'a> {
    block: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> Option<u32> {
        let v = be32(self.block, self.pos)?;
        self.pos += 4;
        Some(v)
    }

    /// `len` bytes, then skip the padding to the next 4-byte boundary.
    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let bytes = self.block.get(self.pos..end)?;
        self.pos = end.checked_add(3)? & !3;
        Some(bytes)
    }

    /// A NUL-terminated string (without the NUL), then skip the padding.
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.block.get(self.pos..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        let s = self.bytes(len + 1)?;
        s.get(..len)
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    word.try_into().ok().map(u32::from_be_bytes)
}

//! A structural check of a flattened device tree before anything else reads it.
//!
//! The `fdt` crate trusts its input: a truncated property, an out-of-range string
//! offset, a property after a child node or nesting deeper than 64 make it panic. This
//! walk proves a blob free of all of those (Devicetree Specification v0.4, chapter 5)
//! so that the reader that follows can only see a well-formed tree.

use core::fmt;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// Deepest nesting accepted; well below the reader's fixed limit of 64.
pub const MAX_DEPTH: usize = 32;
/// Properties whose value the reader decodes as one cell without a length check.
const ONE_CELL: [&str; 6] = [
    "#address-cells",
    "#size-cells",
    "#interrupt-cells",
    "#clock-cells",
    "phandle",
    "interrupt-parent",
];

/// Why a blob is not a well-formed device tree, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtbDefect {
    /// Byte offset in the blob where the problem was found.
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for DtbDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {:#x}: {}", self.offset, self.reason)
    }
}

fn defect(offset: usize, reason: &'static str) -> DtbDefect {
    DtbDefect { offset, reason }
}

fn be32(blob: &[u8], at: usize) -> Option<u32> {
    let bytes = blob.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The NUL-terminated UTF-8 string starting at `at`, if it ends before `end`.
fn c_str(blob: &[u8], at: usize, end: usize) -> Option<&str> {
    let tail = blob.get(at..end)?;
    let len = tail.iter().position(|&b| b == 0)?;
    core::str::from_utf8(&tail[..len]).ok()
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Checks that `blob` is a version-17 flattened device tree whose structure block is
/// well formed: every token in bounds, properties before child nodes, names and string
/// offsets valid, nesting at most [`MAX_DEPTH`], no `FDT_NOP` tokens.
pub fn check_dtb(blob: &[u8]) -> Result<(), DtbDefect> {
    let field = |i: usize| be32(blob, i * 4).ok_or(defect(0, "shorter than the header"));
    if field(0)? != MAGIC {
        return Err(defect(0, "bad magic (not a DTB)"));
    }
    let total = field(1)? as usize;
    if total > blob.len() || total < HEADER_LEN {
        return Err(defect(4, "totalsize does not match the buffer"));
    }
    if field(5)? < 17 {
        return Err(defect(20, "version older than 17"));
    }
    let block = |off: u32, size: u32, at: usize| {
        let start = off as usize;
        match start.checked_add(size as usize) {
            Some(end) if start >= HEADER_LEN && end <= total => Ok((start, end)),
            _ => Err(defect(at, "block outside the blob")),
        }
    };
    let structs = block(field(2)?, field(9)?, 8)?;
    let strings = block(field(3)?, field(8)?, 12)?;
    walk(blob, structs, strings)
}

/// Where the walk of the structure block stands.
struct Walk {
    at: usize,
    depth: usize,
    /// Whether the current node has a child yet (no property may follow one).
    had_child: bool,
    root_done: bool,
}

fn walk(blob: &[u8], structs: (usize, usize), strings: (usize, usize)) -> Result<(), DtbDefect> {
    let mut w = Walk { at: structs.0, depth: 0, had_child: false, root_done: false };
    loop {
        let token = be32(blob, w.at)
            .filter(|_| w.at + 4 <= structs.1)
            .ok_or(defect(w.at, "structure block ends without FDT_END"))?;
        let at = w.at;
        w.at += 4;
        match token {
            BEGIN_NODE => begin_node(blob, &mut w, structs.1, at)?,
            END_NODE => {
                if w.depth == 0 {
                    return Err(defect(at, "FDT_END_NODE without a node"));
                }
                w.depth -= 1;
                w.had_child = true;
                w.root_done = w.depth == 0;
            }
            PROP => property(blob, &mut w, structs.1, strings, at)?,
            END if w.root_done => return Ok(()),
            END => return Err(defect(at, "FDT_END inside a node")),
            NOP => return Err(defect(at, "FDT_NOP tokens are not supported")),
            _ => return Err(defect(at, "unknown token")),
        }
    }
}

fn begin_node(blob: &[u8], w: &mut Walk, end: usize, at: usize) -> Result<(), DtbDefect> {
    if w.root_done {
        return Err(defect(at, "a second root node"));
    }
    let name = c_str(blob, w.at, end).ok_or(defect(at, "node name not NUL-terminated UTF-8"))?;
    if (w.depth == 0) != name.is_empty() {
        return Err(defect(at, "only the root node may have an empty name"));
    }
    w.at = align4(w.at + name.len() + 1).ok_or(defect(at, "node name overflows"))?;
    w.depth += 1;
    if w.depth > MAX_DEPTH {
        return Err(defect(at, "nodes nested too deep"));
    }
    w.had_child = false;
    Ok(())
}

fn property(
    blob: &[u8],
    w: &mut Walk,
    end: usize,
    strings: (usize, usize),
    at: usize,
) -> Result<(), DtbDefect> {
    if w.depth == 0 || w.had_child {
        return Err(defect(at, "property outside a node or after a child node"));
    }
    let len = be32(blob, w.at).ok_or(defect(at, "truncated property"))? as usize;
    let name_off = be32(blob, w.at + 4).ok_or(defect(at, "truncated property"))? as usize;
    let value_end = (w.at + 8).checked_add(len).filter(|&e| e <= end);
    let value_end = value_end.ok_or(defect(at, "property value runs past the block"))?;
    let name_at = strings.0.checked_add(name_off).filter(|&s| s < strings.1);
    let name_at = name_at.ok_or(defect(at, "property name offset outside the strings block"))?;
    let name = c_str(blob, name_at, strings.1)
        .ok_or(defect(at, "property name not NUL-terminated UTF-8"))?;
    if ONE_CELL.contains(&name) && len != 4 {
        return Err(defect(at, "a one-cell property (#*-cells, phandle) is not 4 bytes"));
    }
    w.at = align4(value_end).ok_or(defect(at, "property overflows"))?;
    Ok(())
}

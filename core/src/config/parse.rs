//! Config DTB to [`Config`]: a bounds-checked blob reader and the schema of doc/config.md.
//!
//! The reader is ours rather than the `fdt` crate's: `fdt` 0.1.5 indexes and `expect`s
//! its way through the blob (header offsets, property lengths, string offsets, nesting
//! depth) and so panics on malformed input. [`Tree::parse`] checks every offset and
//! length once and builds an owned tree that the config schema below and
//! [`super::Platform`] then read without further checks.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::ConfigError;
use super::model::{
    Boot, Channel, Config, ConsoleKind, Device, HypervisorConfig, MemoryRegion, Partition,
    RestartPolicy,
};
use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
/// Deeper trees are rejected, which also bounds every recursive walk over a [`Tree`].
const MAX_DEPTH: usize = 32;

/// One property: its name and raw (big-endian) value.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prop<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

/// One node of a checked device tree, with its full path.
#[derive(Debug)]
pub(super) struct Node<'a> {
    pub name: &'a str,
    pub path: String,
    pub props: Vec<Prop<'a>>,
    pub children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    /// The raw value of property `name`.
    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props.iter().find(|p| p.name == name).map(|p| p.value)
    }

    /// The first child called exactly `name`.
    pub fn child(&self, name: &str) -> Option<&Node<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Property `name` as one cell.
    pub fn u32(&self, name: &str) -> Result<Option<u32>, ConfigError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match cells(value).as_deref() {
            Some(&[v]) => Ok(Some(v)),
            _ => Err(self.size_error(name, "one cell (4 bytes)", value)),
        }
    }

    /// Property `name` as a list of cells.
    pub fn cells(&self, name: &str) -> Result<Option<Vec<u32>>, ConfigError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        cells(value).map(Some).ok_or_else(|| self.size_error(name, "a list of cells", value))
    }

    /// Property `name` as one non-empty string.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        match strings(value).as_deref() {
            Some(&[s]) => Ok(Some(s)),
            _ => Err(ConfigError::property(&self.path, name, "expected a non-empty string")),
        }
    }

    /// Property `name` as a list of non-empty strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>, ConfigError> {
        let Some(value) = self.prop(name) else {
            return Ok(None);
        };
        let reason = "expected a list of non-empty strings";
        strings(value).map(Some).ok_or_else(|| ConfigError::property(&self.path, name, reason))
    }

    /// The "wrong size" error for property `name`.
    pub fn size_error(&self, name: &str, expected: &str, value: &[u8]) -> ConfigError {
        let reason = format!("expected {expected}, got {}", count(value.len(), "byte"));
        ConfigError::property(&self.path, name, reason)
    }
}

/// A device tree whose structure has been checked; names and values borrow the blob.
#[derive(Debug)]
pub(super) struct Tree<'a> {
    pub root: Node<'a>,
}

impl<'a> Tree<'a> {
    /// Check `blob` (header, blocks, tokens, names) and build its tree.
    pub fn parse(blob: &'a [u8]) -> Result<Self, ConfigError> {
        let (structs, strings) = blocks(blob)?;
        let mut cursor = Cursor { block: structs, pos: 0 };
        let mut open: Vec<Node<'a>> = Vec::new();
        let root = loop {
            let Some(token) = cursor.u32() else {
                return Err(malformed(here(&open), "structure block ends inside a node"));
            };
            match token {
                FDT_BEGIN_NODE => begin_node(&mut cursor, &mut open)?,
                FDT_PROP => property(&mut cursor, strings, &mut open)?,
                FDT_NOP => {}
                FDT_END_NODE => {
                    let Some(node) = open.pop() else {
                        return Err(malformed("/", "node end without a node"));
                    };
                    match open.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => break node,
                    }
                }
                FDT_END => return Err(malformed(here(&open), "structure ends inside a node")),
                other => return Err(malformed(here(&open), &format!("unknown token {other:#x}"))),
            }
        };
        loop {
            match cursor.u32() {
                Some(FDT_NOP) => {}
                Some(FDT_END) => return Ok(Self { root }),
                _ => {
                    return Err(malformed("/", "expected the end of the structure after the root"))
                }
            }
        }
    }
}

/// Path of the innermost open node, for messages.
fn here<'t>(open: &'t [Node<'_>]) -> &'t str {
    open.last().map_or("/", |n| n.path.as_str())
}

fn malformed(node: &str, what: &str) -> ConfigError {
    ConfigError::node(node, format!("malformed device tree blob: {what}"))
}

/// Check the header and return the structure and strings blocks.
fn blocks(blob: &[u8]) -> Result<(&[u8], &[u8]), ConfigError> {
    let word = |i: usize| be32(blob, i * 4).unwrap_or(0);
    if blob.len() < HEADER_LEN {
        let reason =
            format!("truncated device tree blob: {} bytes, shorter than a header", blob.len());
        return Err(ConfigError::node("/", reason));
    }
    if word(0) != FDT_MAGIC {
        let reason =
            format!("not a device tree blob (magic {:#010x}, expected 0xd00dfeed)", word(0));
        return Err(ConfigError::node("/", reason));
    }
    let total = word(1) as usize;
    let blob = blob.get(..total).ok_or_else(|| {
        let reason =
            format!("truncated device tree blob: header says {total} bytes, got {}", blob.len());
        ConfigError::node("/", reason)
    })?;
    if word(5) < 17 || word(6) > 17 {
        let reason = format!("unsupported device tree version {} (need 17)", word(5));
        return Err(ConfigError::node("/", reason));
    }
    let block = |off: u32, len: u32, what: &str| {
        let off = off as usize;
        let block = off.checked_add(len as usize).and_then(|end| blob.get(off..end));
        block
            .filter(|_| off & 3 == 0)
            .ok_or_else(|| malformed("/", &format!("{what} block lies outside the blob")))
    };
    Ok((block(word(2), word(9), "structure")?, block(word(3), word(8), "strings")?))
}

fn begin_node<'a>(cursor: &mut Cursor<'a>, open: &mut Vec<Node<'a>>) -> Result<(), ConfigError> {
    let parent = open.last().map(|n| n.path.as_str());
    let here = parent.unwrap_or("/");
    let name =
        cursor.cstr().ok_or_else(|| malformed(here, "node name runs past the structure block"))?;
    let name = core::str::from_utf8(name).map_err(|_| malformed(here, "node name is not UTF-8"))?;
    let path = match parent {
        None if name.is_empty() => "/".to_string(),
        None => return Err(malformed("/", "the root node has a name")),
        Some(_) if name.is_empty() || name.contains('/') => {
            return Err(malformed(here, &format!("bad child node name {name:?}")))
        }
        Some("/") => format!("/{name}"),
        Some(p) => format!("{p}/{name}"),
    };
    if open.len() >= MAX_DEPTH {
        return Err(malformed(&path, &format!("nodes nested deeper than {MAX_DEPTH}")));
    }
    open.push(Node { name, path, props: Vec::new(), children: Vec::new() });
    Ok(())
}

fn property<'a>(
    cursor: &mut Cursor<'a>,
    strings: &'a [u8],
    open: &mut [Node<'a>],
) -> Result<(), ConfigError> {
    let node = open.last_mut().ok_or_else(|| malformed("/", "property outside any node"))?;
    let (Some(len), Some(name_off)) = (cursor.u32(), cursor.u32()) else {
        return Err(malformed(&node.path, "property header runs past the structure block"));
    };
    let value = cursor
        .bytes(len as usize)
        .ok_or_else(|| malformed(&node.path, "property runs past the structure block"))?;
    let name = strings.get(name_off as usize..).and_then(|s| Cursor { block: s, pos: 0 }.cstr());
    let name = name.and_then(|n| core::str::from_utf8(n).ok()).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| {
        malformed(&node.path, "property name is not a string in the strings block")
    })?;
    if !node.children.is_empty() {
        return Err(malformed(&node.path, &format!("property {name:?} after a child node")));
    }
    node.props.push(Prop { name, value });
    Ok(())
}

/// A read position in the structure block; every read is bounds-checked.
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

/// `n` and `thing`, plural unless `n` is 1: "1 cell", "3 cells".
pub(super) fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// A property value as big-endian cells, or `None` if its length is not a multiple of 4.
pub(super) fn cells(value: &[u8]) -> Option<Vec<u32>> {
    if value.len() & 3 != 0 {
        return None;
    }
    value.chunks_exact(4).map(|c| c.try_into().ok().map(u32::from_be_bytes)).collect()
}

/// One or two cells as a number, most significant first.
pub(super) fn join(cells: &[u32]) -> Option<u64> {
    match *cells {
        [lo] => Some(u64::from(lo)),
        [hi, lo] => Some(u64::from(hi) << 32 | u64::from(lo)),
        _ => None,
    }
}

/// A string-list value (`"a\0b\0"`), or `None` if it is empty, unterminated, not UTF-8 or
/// holds an empty string.
pub(super) fn strings(value: &[u8]) -> Option<Vec<&str>> {
    let body = value.strip_suffix(&[0])?;
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).ok().filter(|s| !s.is_empty()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The config schema (doc/config.md).
// ---------------------------------------------------------------------------------------

/// The only root `compatible` this parser accepts.
const COMPATIBLE: &str = "bulkhead,config-v1";

/// Parse a config DTB into a [`Config`], checking the schema of doc/config.md: required
/// and unknown properties and nodes, property sizes, enumerations and names.
///
/// Devices come back with only `path` filled in; [`super::validate`] resolves them
/// against the platform.
pub fn parse(dtb: &[u8]) -> Result<Config, ConfigError> {
    let tree = Tree::parse(dtb)?;
    let root = &tree.root;
    allow_props(root, &["compatible", "#address-cells", "#size-cells"])?;
    allow_children(root, &["hypervisor", "partitions", "channels"])?;
    let compatible = need(root, "compatible", root.string("compatible")?)?;
    if compatible != COMPATIBLE {
        let reason = format!("expected \"{COMPATIBLE}\", got {compatible:?}");
        return Err(ConfigError::property("/", "compatible", reason));
    }
    two_cells(root, true)?;
    let hypervisor = hypervisor(need_child(root, "hypervisor")?)?;
    let partitions = need_child(root, "partitions")?;
    allow_props(partitions, &[])?;
    let partitions =
        named_children(partitions, "partition")?.map(partition).collect::<Result<_, _>>()?;
    let channels = match root.child("channels") {
        Some(node) => {
            allow_props(node, &["#address-cells", "#size-cells"])?;
            two_cells(node, false)?;
            named_children(node, "channel")?.map(channel).collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    Ok(Config { hypervisor, partitions, channels })
}

fn hypervisor(node: &Node<'_>) -> Result<HypervisorConfig, ConfigError> {
    allow_props(node, &["memory", "console"])?;
    allow_children(node, &[])?;
    let (base, size) = need(node, "memory", addr_size(node, "memory")?)?;
    let memory = host_range(node, "memory", base, size)?;
    let console = node.string("console")?.map(ToString::to_string);
    Ok(HypervisorConfig { memory, console })
}

const PARTITION_PROPS: &[&str] = &[
    "cpus",
    "kernel",
    "initrd",
    "dtb",
    "bootargs",
    "load-address",
    "devices",
    "console",
    "restart",
    "#address-cells",
    "#size-cells",
];

fn partition(node: &Node<'_>) -> Result<Partition, ConfigError> {
    allow_props(node, PARTITION_PROPS)?;
    two_cells(node, false)?;
    let cpus = need(node, "cpus", node.cells("cpus")?)?;
    let boot = Boot {
        kernel: need(node, "kernel", node.string("kernel")?)?.to_string(),
        initrd: node.string("initrd")?.map(ToString::to_string),
        dtb: node.string("dtb")?.map(ToString::to_string),
        bootargs: node.string("bootargs")?.map(ToString::to_string),
        load: addr(node, "load-address")?.map(GuestPhysAddr::new),
    };
    let devices = node.strings("devices")?.unwrap_or_default();
    let devices = devices.into_iter().map(|path| Device {
        path: path.to_string(),
        mmio: Vec::new(),
        interrupts: Vec::new(),
        dma: false,
    });
    let console = match node.string("console")? {
        None | Some("virtual") => ConsoleKind::Virtual,
        Some("none") => ConsoleKind::None,
        Some(path) if path.starts_with('/') => ConsoleKind::Passthrough(path.to_string()),
        Some(other) => {
            let reason = format!("expected \"virtual\", \"none\" or a device path, got {other:?}");
            return Err(ConfigError::property(&node.path, "console", reason));
        }
    };
    let restart = match node.string("restart")? {
        None | Some("halt") => RestartPolicy::Halt,
        Some("restart") => RestartPolicy::Restart,
        Some(other) => {
            let reason = format!("expected \"halt\" or \"restart\", got {other:?}");
            return Err(ConfigError::property(&node.path, "restart", reason));
        }
    };
    Ok(Partition {
        name: node.name.to_string(),
        node: node.path.clone(),
        cpus: cpus.into_iter().map(u64::from).collect(),
        memory: memory_regions(node)?,
        devices: devices.collect(),
        boot,
        console,
        restart,
    })
}

fn memory_regions(partition: &Node<'_>) -> Result<Vec<MemoryRegion>, ConfigError> {
    no_duplicate_children(partition)?;
    partition.children.iter().map(memory_region).collect()
}

fn memory_region(node: &Node<'_>) -> Result<MemoryRegion, ConfigError> {
    let unit = node.name.strip_prefix("memory@");
    let unit = unit.filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit()));
    let unit = unit.and_then(|a| u64::from_str_radix(a, 16).ok());
    let Some(unit) = unit else {
        return Err(ConfigError::node(&node.path, "unknown node (expected memory@<address>)"));
    };
    allow_props(node, &["reg", "host-address"])?;
    allow_children(node, &[])?;
    let (base, size) = need(node, "reg", addr_size(node, "reg")?)?;
    let guest = Range::<GuestPhysAddr>::new(GuestPhysAddr::new(base), size)
        .ok_or_else(|| range_error(node, "reg", GuestPhysAddr::new(base), size))?;
    if unit != base {
        let reason = format!("unit address {unit:#x} does not match the base {}", guest.start);
        return Err(ConfigError::property(&node.path, "reg", reason));
    }
    let host = match addr(node, "host-address")? {
        Some(host) => host_range(node, "host-address", host, size)?.start,
        None => host_range(node, "reg", base, size)?.start,
    };
    Ok(MemoryRegion { node: node.path.clone(), guest, host })
}

fn channel(node: &Node<'_>) -> Result<Channel, ConfigError> {
    allow_props(node, &["partitions", "reg", "guest-addresses", "doorbell"])?;
    allow_children(node, &[])?;
    let partitions = need(node, "partitions", node.strings("partitions")?)?;
    let (base, size) = need(node, "reg", addr_size(node, "reg")?)?;
    let guests = need(node, "guest-addresses", node.prop("guest-addresses"))?;
    let guest = cells(guests)
        .filter(|c| !c.is_empty() && c.len() % 2 == 0)
        .map(|c| c.chunks_exact(2).filter_map(join).map(GuestPhysAddr::new).collect())
        .ok_or_else(|| {
            node.size_error("guest-addresses", "a list of <addr> (2 cells each)", guests)
        })?;
    Ok(Channel {
        name: node.name.to_string(),
        node: node.path.clone(),
        partitions: partitions.into_iter().map(ToString::to_string).collect(),
        host: host_range(node, "reg", base, size)?,
        guest,
        doorbell: need(node, "doorbell", node.u32("doorbell")?)?,
    })
}

/// Property `name` as `<addr size>` (two cells each).
fn addr_size(node: &Node<'_>, name: &str) -> Result<Option<(u64, u64)>, ConfigError> {
    let Some(value) = node.prop(name) else {
        return Ok(None);
    };
    match cells(value).as_deref() {
        Some(&[a0, a1, s0, s1]) => Ok(join(&[a0, a1]).zip(join(&[s0, s1]))),
        _ => Err(node.size_error(name, "<addr size> (4 cells, 16 bytes)", value)),
    }
}

/// Property `name` as `<addr>` (two cells).
fn addr(node: &Node<'_>, name: &str) -> Result<Option<u64>, ConfigError> {
    let Some(value) = node.prop(name) else {
        return Ok(None);
    };
    match cells(value).as_deref() {
        Some(c @ &[_, _]) => Ok(join(c)),
        _ => Err(node.size_error(name, "<addr> (2 cells, 8 bytes)", value)),
    }
}

fn host_range(
    node: &Node<'_>,
    name: &str,
    base: u64,
    size: u64,
) -> Result<Range<HostPhysAddr>, ConfigError> {
    Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size)
        .ok_or_else(|| range_error(node, name, HostPhysAddr::new(base), size))
}

fn range_error(
    node: &Node<'_>,
    name: &str,
    base: impl core::fmt::Display,
    size: u64,
) -> ConfigError {
    let reason = match size {
        0 => "size is zero".to_string(),
        _ => format!("{base} + {size:#x} runs past the end of the address space"),
    };
    ConfigError::property(&node.path, name, reason)
}

/// `#address-cells` and `#size-cells` must be 2 where given (and given where `required`):
/// they only exist so that `dtc` reads the two-cell `reg`s the way this parser does.
fn two_cells(node: &Node<'_>, required: bool) -> Result<(), ConfigError> {
    for name in ["#address-cells", "#size-cells"] {
        match node.u32(name)? {
            Some(2) => {}
            Some(cells) => {
                return Err(ConfigError::property(
                    &node.path,
                    name,
                    format!("must be 2, got {cells}"),
                ))
            }
            None if required => _ = need(node, name, None::<u32>)?,
            None => {}
        }
    }
    Ok(())
}

fn need<T>(node: &Node<'_>, name: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::property(&node.path, name, "missing required property"))
}

fn need_child<'t, 'a>(node: &'t Node<'a>, name: &str) -> Result<&'t Node<'a>, ConfigError> {
    let reason = || format!("missing required node \"{name}\"");
    node.child(name).ok_or_else(|| ConfigError::node(&node.path, reason()))
}

/// Reject properties outside `allowed`, and any property given twice.
fn allow_props(node: &Node<'_>, allowed: &[&str]) -> Result<(), ConfigError> {
    let mut seen = 0u64;
    for prop in &node.props {
        let Some(i) = allowed.iter().position(|a| *a == prop.name) else {
            return Err(ConfigError::property(&node.path, prop.name, "unknown property"));
        };
        if seen & (1 << i) != 0 {
            return Err(ConfigError::property(&node.path, prop.name, "property given twice"));
        }
        seen |= 1 << i;
    }
    Ok(())
}

/// Reject child nodes outside `allowed`, and any child given twice.
fn allow_children(node: &Node<'_>, allowed: &[&str]) -> Result<(), ConfigError> {
    if let Some(child) = node.children.iter().find(|c| !allowed.contains(&c.name)) {
        return Err(ConfigError::node(&child.path, "unknown node"));
    }
    no_duplicate_children(node)
}

fn no_duplicate_children(node: &Node<'_>) -> Result<(), ConfigError> {
    let mut names: Vec<&str> = node.children.iter().map(|c| c.name).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w.first() == w.last()).and_then(|w| w.first()) {
        Some(name) => Err(ConfigError::node(&node.path, format!("node \"{name}\" given twice"))),
        None => Ok(()),
    }
}

/// The children of `node`, each named `[a-z0-9_-]{1,15}` and named once.
fn named_children<'t, 'a>(
    node: &'t Node<'a>,
    what: &str,
) -> Result<impl Iterator<Item = &'t Node<'a>>, ConfigError> {
    no_duplicate_children(node)?;
    let good = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-';
    for child in &node.children {
        if child.name.len() > 15 || !child.name.bytes().all(good) {
            let reason = format!("bad {what} name: use 1 to 15 characters from [a-z0-9_-]");
            return Err(ConfigError::node(&child.path, reason));
        }
    }
    Ok(node.children.iter())
}

//! Reading the platform DTB: node lookup by path, cell sizes, address translation
//! through bus `ranges`, interrupt parents and clock providers.
//!
//! Every function here assumes a blob that passed [`super::check_dtb`] (which
//! [`open`] enforces), so the `fdt` reader underneath never meets malformed data.

use alloc::vec::Vec;

use fdt::node::FdtNode;
use fdt::Fdt;

use super::check::check_dtb;
use super::FdtGenError;

/// A node with its ancestors: `chain[0]` is the root, the last entry the node itself.
pub(super) type Chain<'b, 'a> = Vec<FdtNode<'b, 'a>>;

/// Checks and opens a platform DTB.
pub(super) fn open(blob: &[u8]) -> Result<Fdt<'_>, FdtGenError> {
    check_dtb(blob)?;
    Fdt::new(blob).map_err(|_| FdtGenError::Spec { field: "platform", reason: "not a DTB" })
}

/// The node at absolute `path` and its ancestors. A path component without a unit
/// address matches a node name without one first, then any `name@…`.
pub(super) fn lookup<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<Chain<'b, 'a>> {
    let rest = path.strip_prefix('/')?;
    let mut chain = Vec::from([fdt.find_node("/")?]);
    for part in rest.split('/').filter(|p| !p.is_empty()) {
        let parent = *chain.last()?;
        let exact = parent.children().find(|c| c.name == part);
        let loose = || parent.children().find(|c| !part.contains('@') && base_name(c.name) == part);
        chain.push(exact.or_else(loose)?);
    }
    Some(chain)
}

/// A node name without its unit address.
pub(super) fn base_name(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}

/// A one-cell property.
pub(super) fn prop_u32(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    let v = node.property(name)?.value;
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// The strings of a string-list value.
pub(super) fn strings(value: &[u8]) -> impl Iterator<Item = &str> {
    value.split(|&b| b == 0).filter(|s| !s.is_empty()).filter_map(|s| core::str::from_utf8(s).ok())
}

/// Whether `node` is compatible with any of `with`.
pub(super) fn compatible(node: FdtNode<'_, '_>, with: &[&str]) -> bool {
    node.property("compatible").is_some_and(|p| strings(p.value).any(|c| with.contains(&c)))
}

/// `(#address-cells, #size-cells)` a node gives its children (defaults 2 and 1,
/// Devicetree Specification 2.3.5).
pub(super) fn cell_sizes(node: FdtNode<'_, '_>) -> (u32, u32) {
    (prop_u32(node, "#address-cells").unwrap_or(2), prop_u32(node, "#size-cells").unwrap_or(1))
}

/// Reads a number of `cells` (at most two) from the front of `data`.
pub(super) fn take_cells(data: &mut &[u8], cells: u32) -> Option<u64> {
    if cells > 2 {
        return None;
    }
    let (head, tail) = data.split_at_checked(cells as usize * 4)?;
    *data = tail;
    Some(head.chunks_exact(4).fold(0u64, |acc, c| acc << 32 | u64::from(be(c))))
}

fn be(c: &[u8]) -> u32 {
    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
}

/// The CPU-physical `(address, size)` pairs of the last node of `chain`, translated
/// through every bus above it (Devicetree Specification 2.3.8).
pub(super) fn cpu_reg(
    chain: &[FdtNode<'_, '_>],
    path: &str,
) -> Result<Vec<(u64, u64)>, FdtGenError> {
    let (node, buses) =
        chain.split_last().ok_or_else(|| FdtGenError::property(path, "reg", "no node"))?;
    let Some(reg) = node.property("reg") else { return Ok(Vec::new()) };
    let parent =
        buses.last().ok_or_else(|| FdtGenError::property(path, "reg", "the root has no reg"))?;
    let (ac, sc) = cell_sizes(*parent);
    if ac == 0 {
        return Err(FdtGenError::property(
            path,
            "reg",
            "the parent bus has `#address-cells = <0>`",
        ));
    }
    let mut data = reg.value;
    let mut out = Vec::new();
    while !data.is_empty() {
        let addr = take_cells(&mut data, ac);
        let size = take_cells(&mut data, sc);
        let (Some(addr), Some(size)) = (addr, size) else {
            return Err(FdtGenError::property(
                path,
                "reg",
                "not whole (address, size) pairs of at most 2 cells",
            ));
        };
        out.push((translate(buses, addr, size, path)?, size));
    }
    Ok(out)
}

/// `addr` in the child space of `buses.last()`, seen from the CPU.
fn translate(
    buses: &[FdtNode<'_, '_>],
    mut addr: u64,
    size: u64,
    path: &str,
) -> Result<u64, FdtGenError> {
    for i in (1..buses.len()).rev() {
        let (bus, up) = (buses[i], buses[i - 1]);
        let ranges = bus
            .property("ranges")
            .ok_or_else(|| FdtGenError::property(path, "reg", "a bus above has no `ranges`"))?;
        if !ranges.value.is_empty() {
            addr = through_ranges(ranges.value, cell_sizes(bus), cell_sizes(up).0, addr, size)
                .ok_or_else(|| {
                    FdtGenError::property(
                        path,
                        "reg",
                        "outside every `ranges` entry of a bus above",
                    )
                })?;
        }
    }
    Ok(addr)
}

/// Maps `[addr, addr + size)` through one `ranges` value.
fn through_ranges(
    mut v: &[u8],
    (child_ac, sc): (u32, u32),
    parent_ac: u32,
    addr: u64,
    size: u64,
) -> Option<u64> {
    if child_ac == 0 || parent_ac == 0 {
        return None;
    }
    while !v.is_empty() {
        let child = take_cells(&mut v, child_ac)?;
        let parent = take_cells(&mut v, parent_ac)?;
        let len = take_cells(&mut v, sc)?;
        let offset = addr.checked_sub(child)?;
        if offset.checked_add(size).is_some_and(|end| end <= len) {
            return parent.checked_add(offset);
        }
    }
    None
}

/// The interrupt parent of the last node of `chain`: the nearest `interrupt-parent`
/// on the node or an ancestor, resolved by phandle.
pub(super) fn interrupt_parent<'b, 'a>(
    fdt: &'b Fdt<'a>,
    chain: &[FdtNode<'b, 'a>],
) -> Option<FdtNode<'b, 'a>> {
    let phandle = chain.iter().rev().find_map(|n| prop_u32(*n, "interrupt-parent"))?;
    fdt.find_phandle(phandle)
}

/// Whether `node` is a root interrupt controller with three interrupt cells: the GIC
/// whose INTIDs the guest's emulated GIC presents unchanged.
pub(super) fn is_root_gic(node: FdtNode<'_, '_>) -> bool {
    node.property("interrupt-controller").is_some()
        && prop_u32(node, "#interrupt-cells") == Some(3)
        && node.property("interrupts").is_none()
}

/// The `compatible` value of the platform's first CPU node.
pub(super) fn cpu_compatible<'a>(fdt: &Fdt<'a>) -> Option<&'a [u8]> {
    let cpus = fdt.find_node("/cpus")?;
    let first = cpus.children().find(|c| base_name(c.name) == "cpu")?;
    Some(first.property("compatible")?.value)
}

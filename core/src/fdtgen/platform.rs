//! Reading the platform DTB for passthrough: a device's CPU addresses through the buses
//! above it, its interrupt parent, and the CPU `compatible`.
//!
//! The blob is read by [`crate::dt`], which checks it whole first, so a malformed
//! platform DTB is an [`FdtGenError`], never a panic.

use alloc::vec::Vec;

use super::FdtGenError;
use crate::dt::{self, Level, Node, Tree};

/// A node with its ancestors: `chain[0]` is the root, the last entry the node itself.
pub(super) type Chain<'t> = Vec<Node<'t>>;

/// Checks and opens a platform DTB.
pub(super) fn open(blob: &[u8]) -> Result<Tree<'_>, FdtGenError> {
    Ok(Tree::parse(blob)?)
}

/// The CPU-physical `(address, size)` pairs of the last node of `chain`, translated
/// through every bus above it (Devicetree Specification v0.4, 2.3.8).
pub(super) fn cpu_reg(chain: &[Node<'_>], path: &str) -> Result<Vec<(u64, u64)>, FdtGenError> {
    let (node, buses) =
        chain.split_last().ok_or_else(|| FdtGenError::property(path, "reg", "no node"))?;
    if node.prop("reg").is_none() {
        return Ok(Vec::new());
    }
    let parent =
        buses.last().ok_or_else(|| FdtGenError::property(path, "reg", "the root has no reg"))?;
    let reg = node.reg(parent.cell_sizes()?)?;
    let levels = levels(buses, path)?;
    let outside =
        || FdtGenError::property(path, "reg", "outside every `ranges` entry of a bus above");
    reg.into_iter()
        .map(|(addr, size)| Ok((dt::translate(&levels, addr, size).ok_or_else(outside)?, size)))
        .collect()
}

/// How addresses on the last bus of `buses` reach the CPU: one level per bus below the
/// root, outermost first.
fn levels(buses: &[Node<'_>], path: &str) -> Result<Vec<Level>, FdtGenError> {
    let mut levels = Vec::new();
    for pair in buses.windows(2) {
        let &[up, bus] = pair else { continue };
        let level = bus.ranges(up.cell_sizes()?.0)?.ok_or_else(|| {
            let reason = match bus.prop("ranges") {
                None => "a bus above has no `ranges`",
                Some(_) => "outside every `ranges` entry of a bus above",
            };
            FdtGenError::property(path, "reg", reason)
        })?;
        levels.push(level);
    }
    Ok(levels)
}

/// The interrupt parent of the last node of `chain`: the nearest `interrupt-parent`
/// on the node or an ancestor, resolved by phandle.
pub(super) fn interrupt_parent<'t>(
    tree: &'t Tree<'_>,
    chain: &[Node<'_>],
) -> Result<Option<Node<'t>>, FdtGenError> {
    for node in chain.iter().rev() {
        if let Some(phandle) = node.u32("interrupt-parent")? {
            return Ok(tree.by_phandle(phandle));
        }
    }
    Ok(None)
}

/// Whether `node` is a root interrupt controller with three interrupt cells: the GIC
/// whose INTIDs the guest's emulated GIC presents unchanged.
pub(super) fn is_root_gic(node: Node<'_>) -> Result<bool, FdtGenError> {
    // A GIC may have interrupts of its own (the maintenance interrupt under
    // virtualization); what makes it the root is that it is not wired to another
    // controller: no interrupt-parent, or itself.
    let parent = node.u32("interrupt-parent")?;
    let own = node.u32("phandle")?;
    Ok(node.prop("interrupt-controller").is_some()
        && (parent.is_none() || parent == own)
        && node.u32("#interrupt-cells")? == Some(3))
}

/// The `compatible` value of the platform's first CPU node.
pub(super) fn cpu_compatible<'t>(tree: &'t Tree<'_>) -> Option<&'t [u8]> {
    let cpus = tree.find("/cpus")?;
    cpus.children().find(|c| c.base_name() == "cpu")?.prop("compatible")
}

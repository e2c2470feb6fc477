//! Copying passthrough devices from the platform DTB into the guest tree.
//!
//! A device keeps every property but those naming other platform nodes by phandle:
//! `interrupt-parent` becomes the guest GIC, `clocks` become guest `fixed-clock` nodes,
//! pin control is dropped (the platform firmware already muxed the pins) and anything
//! else that points outside the device (resets, DMA, supplies, GPIOs) is refused, since
//! the guest has no such node to point at.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::node::Node;
use super::platform::{cpu_reg, interrupt_parent, is_root_gic, Chain};
use super::FdtGenError;
use crate::dt::{self, Prop, Tree};

/// Frequency of the generated `apb-pclk` clock.
pub const APB_PCLK_HZ: u64 = 24_000_000;

/// Properties that hold phandles of nodes a guest does not get.
const FOREIGN_REFS: [&str; 16] = [
    "interrupts-extended",
    "interrupt-map",
    "resets",
    "power-domains",
    "dmas",
    "iommus",
    "iommu-map",
    "msi-parent",
    "msi-map",
    "phys",
    "mboxes",
    "nvmem-cells",
    "assigned-clocks",
    "assigned-clock-parents",
    "gpios",
    "memory-region",
];

/// A generated `fixed-clock` node.
struct Clock {
    name: String,
    hz: u64,
    output_names: Option<Vec<u8>>,
    phandle: u32,
}

/// The guest nodes copied devices point at: the GIC and the clocks made so far.
pub(super) struct Refs {
    gic: u32,
    clocks: Vec<Clock>,
    next: u32,
}

impl Refs {
    /// Refs with the GIC at phandle `gic`; clocks take the phandles after it.
    pub fn new(gic: u32) -> Self {
        Self { gic, clocks: Vec::new(), next: gic + 1 }
    }

    /// The phandle of a fixed clock of `hz` named `output_names`, made on first use.
    fn clock(&mut self, hint: &str, hz: u64, output_names: Option<&[u8]>) -> u32 {
        let same = |c: &&Clock| c.hz == hz && c.output_names.as_deref() == output_names;
        if let Some(c) = self.clocks.iter().find(same) {
            return c.phandle;
        }
        let mut name = String::from(hint);
        let mut n = 1;
        while self.clocks.iter().any(|c| c.name == name) {
            name = format!("{hint}-{n}");
            n += 1;
        }
        let phandle = self.next;
        self.next += 1;
        self.clocks.push(Clock { name, hz, output_names: output_names.map(Vec::from), phandle });
        phandle
    }

    /// The 24 MHz `apb-pclk` a PrimeCell (PL011) device needs to probe.
    pub fn apb_pclk(&mut self) -> u32 {
        self.clock("apb-pclk", APB_PCLK_HZ, Some(b"clk24mhz\0"))
    }

    /// The clock nodes to add to the root.
    pub fn clock_nodes(&self) -> Vec<Node<'static>> {
        let node = |c: &Clock| {
            let mut n = Node::new(c.name.clone());
            n.strs("compatible", &["fixed-clock"]).u32("#clock-cells", 0);
            match u32::try_from(c.hz) {
                Ok(hz) => n.u32("clock-frequency", hz),
                Err(_) => n.bytes("clock-frequency", &c.hz.to_be_bytes()),
            };
            if let Some(names) = &c.output_names {
                n.bytes("clock-output-names", names);
            }
            n.u32("phandle", c.phandle);
            n
        };
        self.clocks.iter().map(node).collect()
    }
}

/// Copies the platform node at `path` (and its subtree) to become a child of the guest
/// root, its `reg` translated to CPU addresses in two-cell form.
pub(super) fn copy_device<'t>(
    tree: &'t Tree<'_>,
    path: &str,
    refs: &mut Refs,
) -> Result<Node<'t>, FdtGenError> {
    let unknown = || FdtGenError::UnknownDevice { path: String::from(path) };
    let mut chain = tree.chain(path).filter(|c| c.len() >= 2).ok_or_else(unknown)?;
    let mut node = copy_node(tree, &mut chain, path, refs)?;
    let reg = cpu_reg(&chain, path)?;
    // The unit address follows `reg`, which may have moved from a bus address.
    if let (Some((name, _)), Some((addr, _))) = (node.name.split_once('@'), reg.first()) {
        node.name = format!("{name}@{addr:x}").into();
    }
    let moved_as_is = chain.len() == 2 && tree.root().cell_sizes()? == (2, 2);
    for i in 0..node.props.len() {
        let (name, value) = node.props[i];
        match name {
            "reg" => node.props[i].1 = node.reg64_value(&reg),
            "ranges" | "dma-ranges" if !node.value(value).is_empty() && !moved_as_is => {
                return Err(FdtGenError::property(path, name, "cannot be moved to the guest root"));
            }
            _ => {}
        }
    }
    Ok(node)
}

/// Copies the last node of `chain` and its children.
fn copy_node<'t>(
    tree: &'t Tree<'_>,
    chain: &mut Chain<'t>,
    path: &str,
    refs: &mut Refs,
) -> Result<Node<'t>, FdtGenError> {
    let Some(&node) = chain.last() else {
        return Err(FdtGenError::property(path, "", "no node"));
    };
    let mut out = Node::new(node.name());
    let primecell = node.is_compatible(&["arm,primecell", "arm,pl011"]);
    for prop in node.props() {
        copy_prop(tree, chain, prop, path, primecell, refs, &mut out)?;
    }
    for child in node.children() {
        let child_path = format!("{path}/{}", child.name());
        chain.push(child);
        let copied = copy_node(tree, chain, &child_path, refs);
        chain.pop();
        out.children.push(copied?);
    }
    Ok(out)
}

/// Adds the guest version of one property to `out`, unless it is dropped.
fn copy_prop<'t>(
    tree: &Tree<'_>,
    chain: &[dt::Node<'_>],
    prop: Prop<'t>,
    path: &str,
    primecell: bool,
    refs: &mut Refs,
    out: &mut Node<'t>,
) -> Result<(), FdtGenError> {
    let name = prop.name;
    match name {
        "phandle" | "linux,phandle" | "pinctrl-names" => {}
        _ if name.starts_with("pinctrl-") => {}
        "interrupt-parent" | "interrupts" => {
            let parent = interrupt_parent(tree, chain)?;
            if !parent.map(is_root_gic).transpose()?.unwrap_or(false) {
                return Err(FdtGenError::property(
                    path,
                    name,
                    "interrupt parent is not the platform GIC",
                ));
            }
            match name {
                "interrupts" => out.raw(name, prop.value),
                _ => out.u32(name, refs.gic),
            };
        }
        "clocks" => {
            out.bytes(name, &rewrite_clocks(tree, prop.value, path, primecell, refs)?);
        }
        _ if is_foreign_ref(name) => {
            return Err(FdtGenError::property(
                path,
                name,
                "refers to platform nodes the guest does not have",
            ))
        }
        _ => {
            out.raw(name, prop.value);
        }
    }
    Ok(())
}

fn is_foreign_ref(name: &str) -> bool {
    FOREIGN_REFS.contains(&name)
        || name.ends_with("-gpios")
        || name.ends_with("-gpio")
        || name.ends_with("-supply")
}

/// `clocks` with each specifier replaced by a guest clock's phandle: a copy of a
/// platform `fixed-clock`, or for a PrimeCell device the 24 MHz `apb-pclk`.
fn rewrite_clocks(
    tree: &Tree<'_>,
    value: &[u8],
    path: &str,
    primecell: bool,
    refs: &mut Refs,
) -> Result<Vec<u8>, FdtGenError> {
    let err = |reason| FdtGenError::property(path, "clocks", reason);
    let cells = dt::cells(value).ok_or_else(|| err("truncated specifier"))?;
    let mut rest = cells.as_slice();
    let mut out = Vec::new();
    while let Some((&phandle, tail)) = rest.split_first() {
        let provider = tree.by_phandle(phandle);
        let provider = provider.ok_or_else(|| err("names no node of the platform"))?;
        let args = provider.u32("#clock-cells")?.unwrap_or(0);
        rest = tail.get(args as usize..).ok_or_else(|| err("truncated specifier"))?;
        let guest = match fixed_clock(provider, args) {
            Some((hz, names)) => refs.clock(provider.name(), hz, names),
            None if primecell => refs.apb_pclk(),
            None => return Err(err("provider is not a fixed-clock")),
        };
        out.extend_from_slice(&guest.to_be_bytes());
    }
    Ok(out)
}

/// Frequency and output names of a `fixed-clock` provider without arguments.
fn fixed_clock<'t>(provider: dt::Node<'t>, args: u32) -> Option<(u64, Option<&'t [u8]>)> {
    if args != 0 || !provider.is_compatible(&["fixed-clock"]) {
        return None;
    }
    let hz = provider.u64("clock-frequency").ok()??;
    Some((hz, provider.prop("clock-output-names")))
}

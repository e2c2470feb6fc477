//! The platform description: RAM, CPUs and devices read from a board or firmware DTB.
//!
//! On the host it comes from `boards/<board>/platform.dts`; at boot from the DTB the
//! firmware hands over. Either way it goes through the same checked reader as the
//! config ([`super::parse`]), so a malformed blob is an error, never a panic.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::ConfigError;
use super::parse::{cells, count, join, strings, Node, Tree};
use crate::addr::{HostPhysAddr, Range};

/// What a board offers: RAM, CPUs and devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Platform {
    /// RAM from every `device_type = "memory"` node's `reg`, in tree order.
    pub memory: Vec<Range<HostPhysAddr>>,
    /// CPUs from `/cpus/cpu@*`, in tree order.
    pub cpus: Vec<PlatformCpu>,
    /// Every memory-mapped node with a `reg` outside `/cpus`, the memory nodes and
    /// `/reserved-memory`, in tree order.
    pub devices: Vec<PlatformDevice>,
    /// `/psci`'s `method` (`"smc"` or `"hvc"`), if the board has PSCI.
    pub psci_method: Option<String>,
}

/// One CPU of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformCpu {
    /// Hardware id: the node's `reg` (MPIDR affinity on ARM, APIC id on x86).
    pub id: u64,
    /// Platform-DT path, e.g. `/cpus/cpu@0`.
    pub node: String,
}

/// One memory-mapped device of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformDevice {
    /// Platform-DT path, e.g. `/pl011@9000000`.
    pub path: String,
    /// The `compatible` strings, most specific first.
    pub compatible: Vec<String>,
    /// MMIO ranges from `reg`, translated through the parents' `ranges` to CPU addresses.
    pub mmio: Vec<Range<HostPhysAddr>>,
    /// Interrupt ids decoded by the interrupt parent's binding: GIC INTIDs (SPI n is
    /// 32 + n, PPI n is 16 + n) or, for other controllers, the first specifier cell.
    pub interrupts: Vec<u32>,
    /// Whether the device masters DMA (`dma-coherent`, or `virtio,mmio`).
    pub dma: bool,
    /// Whether it is part of interrupt delivery (`interrupt-controller` or
    /// `msi-controller`); the hypervisor keeps those.
    pub interrupt_controller: bool,
}

impl Platform {
    /// Read a platform DTB.
    pub fn from_dtb(dtb: &[u8]) -> Result<Self, ConfigError> {
        let tree = Tree::parse(dtb)?;
        let mut phandles = BTreeMap::new();
        collect_phandles(&tree.root, &mut phandles)?;
        let mut walker = Walker { phandles, platform: Platform::default() };
        let root = Scope::new(&tree.root, Some(Vec::new()), None)?;
        for child in &tree.root.children {
            walker.visit(&root, child)?;
        }
        if walker.platform.memory.is_empty() {
            return Err(ConfigError::node("/", "no memory node (device_type = \"memory\")"));
        }
        if walker.platform.cpus.is_empty() {
            return Err(ConfigError::node("/cpus", "no cpu@ node"));
        }
        Ok(walker.platform)
    }

    /// The CPU with hardware id `id`.
    pub fn cpu(&self, id: u64) -> Option<&PlatformCpu> {
        self.cpus.iter().find(|c| c.id == id)
    }

    /// The device at platform-DT path `path`.
    pub fn device(&self, path: &str) -> Option<&PlatformDevice> {
        self.devices.iter().find(|d| d.path == path)
    }

    /// Whether every byte of `range` is platform RAM (possibly across adjacent nodes).
    pub fn ram_covers(&self, range: &Range<HostPhysAddr>) -> bool {
        let mut next = range.start;
        loop {
            let Some(ram) = self.memory.iter().find(|m| m.contains(next)) else {
                return false;
            };
            if ram.last() >= range.last() {
                return true;
            }
            match ram.last().checked_add(1) {
                Some(after) => next = after,
                None => return false,
            }
        }
    }
}

/// Compatibles of the Arm GIC bindings, whose specifiers are `<type number flags>`.
const GIC_COMPATIBLES: &[&str] =
    &["arm,gic-v3", "arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic"];

/// One `ranges` window: `size` bytes at `child` on the bus appear at `parent` above it.
#[derive(Clone, Debug)]
struct Window {
    child: u64,
    parent: u64,
    size: u64,
}

/// One bus level: `None` for an identity `ranges;`, else its windows.
type Level = Option<Vec<Window>>;

/// What the children of `node` inherit.
struct Scope<'t, 'a> {
    node: &'t Node<'a>,
    /// `#address-cells` and `#size-cells` for the children's `reg`.
    cells: (usize, usize),
    /// How the children's addresses reach the CPU (innermost level last); `None` when
    /// some bus on the way has no `ranges` (I2C, SPI, PCI children): not MMIO.
    levels: Option<Vec<Level>>,
    /// The interrupt-parent phandle in force.
    interrupt_parent: Option<u32>,
}

impl<'t, 'a> Scope<'t, 'a> {
    fn new(
        node: &'t Node<'a>,
        levels: Option<Vec<Level>>,
        inherited: Option<u32>,
    ) -> Result<Self, ConfigError> {
        let address = node.u32("#address-cells")?.unwrap_or(2) as usize;
        let size = node.u32("#size-cells")?.unwrap_or(1) as usize;
        let interrupt_parent = node.u32("interrupt-parent")?.or(inherited);
        Ok(Self { node, cells: (address, size), levels, interrupt_parent })
    }

    /// The scope for `child`'s own children.
    fn enter(&self, child: &'t Node<'a>) -> Result<Self, ConfigError> {
        let child_cells = (
            child.u32("#address-cells")?.unwrap_or(2) as usize,
            child.u32("#size-cells")?.unwrap_or(1) as usize,
        );
        let levels = match (&self.levels, child.prop("ranges")) {
            (Some(levels), Some(ranges)) => ranges_level(child, ranges, child_cells, self.cells.0)?
                .map(|level| {
                    let mut levels = levels.clone();
                    levels.push(level);
                    levels
                }),
            _ => None,
        };
        Scope::new(child, levels, self.interrupt_parent)
    }
}

/// Parse `ranges`; `Ok(None)` when the cell sizes are not 1 or 2 (e.g. PCI): not MMIO.
fn ranges_level(
    node: &Node<'_>,
    value: &[u8],
    child: (usize, usize),
    parent_address: usize,
) -> Result<Option<Level>, ConfigError> {
    if value.is_empty() {
        return Ok(Some(None));
    }
    let (ca, sc) = child;
    if ![ca, sc, parent_address].iter().all(|c| (1..=2).contains(c)) {
        return Ok(None);
    }
    let entries = split(node, "ranges", value, ca + parent_address + sc)?;
    let windows = entries.iter().filter_map(|e| {
        let (c, rest) = e.split_at_checked(ca)?;
        let (p, s) = rest.split_at_checked(parent_address)?;
        Some(Window { child: join(c)?, parent: join(p)?, size: join(s)? })
    });
    Ok(Some(Some(windows.collect())))
}

/// A cell-list property cut into entries of `n` cells.
fn split(
    node: &Node<'_>,
    name: &str,
    value: &[u8],
    n: usize,
) -> Result<Vec<Vec<u32>>, ConfigError> {
    let all = cells(value).filter(|c| n > 0 && !c.is_empty() && c.len() % n == 0);
    let all = all
        .ok_or_else(|| node.size_error(name, &format!("entries of {}", count(n, "cell")), value))?;
    Ok(all.chunks_exact(n).map(<[u32]>::to_vec).collect())
}

fn collect_phandles<'t, 'a>(
    node: &'t Node<'a>,
    map: &mut BTreeMap<u32, &'t Node<'a>>,
) -> Result<(), ConfigError> {
    if let Some(phandle) = node.u32("phandle")?.or(node.u32("linux,phandle")?) {
        map.insert(phandle, node);
    }
    node.children.iter().try_for_each(|c| collect_phandles(c, map))
}

struct Walker<'t, 'a> {
    phandles: BTreeMap<u32, &'t Node<'a>>,
    platform: Platform,
}

impl<'t, 'a> Walker<'t, 'a> {
    fn visit(&mut self, scope: &Scope<'t, 'a>, node: &'t Node<'a>) -> Result<(), ConfigError> {
        let at_root = scope.node.path == "/";
        if at_root && node.string("device_type")? == Some("memory") {
            return self.memory(scope, node);
        }
        if at_root && node.name == "cpus" {
            return self.cpus(node);
        }
        if at_root && node.name == "reserved-memory" {
            return Ok(());
        }
        if at_root && node.name == "psci" {
            self.platform.psci_method = node.string("method")?.map(ToString::to_string);
        }
        if let (Some(levels), Some(_)) = (&scope.levels, node.prop("reg")) {
            let device = self.device(scope, levels, node)?;
            self.platform.devices.push(device);
        }
        let inner = scope.enter(node)?;
        node.children.iter().try_for_each(|c| self.visit(&inner, c))
    }

    fn memory(&mut self, scope: &Scope<'t, 'a>, node: &Node<'a>) -> Result<(), ConfigError> {
        for (base, size) in reg(node, scope.cells)? {
            let range =
                Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size).ok_or_else(|| {
                    ConfigError::property(&node.path, "reg", "empty or wrapping range")
                })?;
            self.platform.memory.push(range);
        }
        Ok(())
    }

    fn cpus(&mut self, cpus: &Node<'a>) -> Result<(), ConfigError> {
        let scope = Scope::new(cpus, None, None)?;
        for cpu in cpus.children.iter().filter(|c| c.name == "cpu" || c.name.starts_with("cpu@")) {
            let Some(&(id, _)) = reg(cpu, scope.cells)?.first() else {
                return Err(ConfigError::property(&cpu.path, "reg", "missing required property"));
            };
            self.platform.cpus.push(PlatformCpu { id, node: cpu.path.clone() });
        }
        Ok(())
    }

    fn device(
        &self,
        scope: &Scope<'t, 'a>,
        levels: &[Level],
        node: &Node<'a>,
    ) -> Result<PlatformDevice, ConfigError> {
        let compatible = node.prop("compatible").and_then(strings).unwrap_or_default();
        let mut mmio = Vec::new();
        for (base, size) in reg(node, scope.cells)?.into_iter().filter(|&(_, size)| size != 0) {
            let cpu = to_cpu(levels, base, size).ok_or_else(|| {
                let reason = format!("{base:#x} + {size:#x} is outside the parent bus's ranges");
                ConfigError::property(&node.path, "reg", reason)
            })?;
            let range = Range::<HostPhysAddr>::new(HostPhysAddr::new(cpu), size)
                .ok_or_else(|| ConfigError::property(&node.path, "reg", "range wraps around"))?;
            mmio.push(range);
        }
        Ok(PlatformDevice {
            path: node.path.clone(),
            compatible: compatible.iter().map(|c| c.to_string()).collect(),
            mmio,
            interrupts: self.interrupts(scope, node)?,
            dma: node.prop("dma-coherent").is_some() || compatible.contains(&"virtio,mmio"),
            interrupt_controller: node.prop("interrupt-controller").is_some()
                || node.prop("msi-controller").is_some(),
        })
    }

    /// Decode `interrupts` (by the interrupt parent) and `interrupts-extended`.
    fn interrupts(&self, scope: &Scope<'t, 'a>, node: &Node<'a>) -> Result<Vec<u32>, ConfigError> {
        let mut ids = Vec::new();
        if let Some(value) = node.prop("interrupts") {
            let parent = match node.u32("interrupt-parent")?.or(scope.interrupt_parent) {
                Some(phandle) => self.phandle(node, "interrupt-parent", phandle)?,
                None => scope.node,
            };
            let n = interrupt_cells(node, "interrupts", parent)?;
            for spec in split(node, "interrupts", value, n)? {
                ids.push(decode(node, "interrupts", parent, &spec)?);
            }
        }
        if let Some(value) = node.prop("interrupts-extended") {
            let all = cells(value)
                .ok_or_else(|| node.size_error("interrupts-extended", "a list of cells", value))?;
            let mut rest = all.as_slice();
            while let Some((&phandle, tail)) = rest.split_first() {
                let parent = self.phandle(node, "interrupts-extended", phandle)?;
                let n = interrupt_cells(node, "interrupts-extended", parent)?;
                let Some((spec, tail)) = tail.split_at_checked(n) else {
                    return Err(node.size_error("interrupts-extended", "whole specifiers", value));
                };
                ids.push(decode(node, "interrupts-extended", parent, spec)?);
                rest = tail;
            }
        }
        Ok(ids)
    }

    fn phandle(
        &self,
        node: &Node<'a>,
        property: &str,
        phandle: u32,
    ) -> Result<&'t Node<'a>, ConfigError> {
        let reason = || format!("no node has phandle {phandle:#x}");
        self.phandles
            .get(&phandle)
            .copied()
            .ok_or_else(|| ConfigError::property(&node.path, property, reason()))
    }
}

/// The interrupt parent's `#interrupt-cells` (at least 1).
fn interrupt_cells(
    node: &Node<'_>,
    property: &str,
    parent: &Node<'_>,
) -> Result<usize, ConfigError> {
    match parent.u32("#interrupt-cells")? {
        Some(n) if n >= 1 => Ok(n as usize),
        _ => {
            let reason = format!("interrupt parent {} has no usable #interrupt-cells", parent.path);
            Err(ConfigError::property(&node.path, property, reason))
        }
    }
}

/// One specifier to an interrupt id, by the parent's binding.
fn decode(
    node: &Node<'_>,
    property: &str,
    parent: &Node<'_>,
    spec: &[u32],
) -> Result<u32, ConfigError> {
    let compatible = parent.prop("compatible").and_then(strings).unwrap_or_default();
    let gic = compatible.iter().any(|c| GIC_COMPATIBLES.contains(c));
    let id = match *spec {
        // Arm GIC binding: SPI, PPI, and the GICv3.1 extended ESPI and EPPI ranges.
        [kind, number, _, ..] if gic => match kind {
            0 => number.checked_add(32),
            1 => number.checked_add(16),
            2 => number.checked_add(4096),
            3 => number.checked_add(1056),
            _ => {
                let reason = format!("unknown GIC interrupt type {kind}");
                return Err(ConfigError::property(&node.path, property, reason));
            }
        },
        [first, ..] => Some(first),
        [] => None,
    };
    id.ok_or_else(|| ConfigError::property(&node.path, property, "interrupt number out of range"))
}

/// `node`'s `reg` as (address, size) pairs; size is 0 when `#size-cells` is 0.
fn reg(node: &Node<'_>, (ac, sc): (usize, usize)) -> Result<Vec<(u64, u64)>, ConfigError> {
    let Some(value) = node.prop("reg") else {
        return Ok(Vec::new());
    };
    if !(1..=2).contains(&ac) || sc > 2 {
        let reason = format!("cannot read addresses of {ac} cells and sizes of {sc} cells");
        return Err(ConfigError::property(&node.path, "reg", reason));
    }
    let entries = split(node, "reg", value, ac + sc)?;
    let pair = |e: &Vec<u32>| {
        let (a, s) = e.split_at_checked(ac)?;
        Some((join(a)?, if s.is_empty() { 0 } else { join(s)? }))
    };
    Ok(entries.iter().filter_map(pair).collect())
}

/// Translate a bus address through every level up to the CPU.
fn to_cpu(levels: &[Level], base: u64, size: u64) -> Option<u64> {
    levels.iter().rev().try_fold(base, |addr, level| match level {
        None => Some(addr),
        Some(windows) => windows.iter().find_map(|w| {
            let offset = addr.checked_sub(w.child)?;
            (offset.checked_add(size)? <= w.size).then_some(w.parent.checked_add(offset)?)
        }),
    })
}

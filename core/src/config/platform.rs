//! The platform description: RAM, CPUs and devices read from a board or firmware DTB.
//!
//! On the host it comes from `boards/<board>/platform.dts`; at boot from the DTB the
//! firmware hands over. Either way it goes through the checked reader of [`crate::dt`],
//! so a malformed blob is an error, never a panic.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::error::ConfigError;
use crate::addr::{HostPhysAddr, IoPort, Range};
use crate::dt::{self, Level, Node, Tree};

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
    /// I/O port ranges from `io-ports = <base count …>` (x86).
    pub ports: Vec<Range<IoPort>>,
    /// Whether the device masters DMA (`dma-coherent`, or `virtio,mmio`).
    pub dma: bool,
    /// Whether it is part of interrupt delivery (`interrupt-controller` or
    /// `msi-controller`); the hypervisor keeps those.
    pub interrupt_controller: bool,
    /// Whether the platform description reserves it for the hypervisor
    /// (`bulkhead,hypervisor-owned`: on a PC the PIC, the PIT, PCI configuration ports,
    /// the keyboard controller's reset line).
    pub hypervisor_owned: bool,
}

impl PlatformDevice {
    /// Whether the hypervisor keeps the device for itself (never a partition's).
    pub fn kept(&self) -> bool {
        self.interrupt_controller || self.hypervisor_owned
    }
}

impl Platform {
    /// Read a platform DTB, every device of it.
    pub fn from_dtb(dtb: &[u8]) -> Result<Self, ConfigError> {
        Self::from_tree(&Tree::parse(dtb)?, None)
    }

    /// Read a parsed platform DTB. With `keep`, record only the devices it names and
    /// every interrupt controller (which validation needs: the hypervisor keeps them);
    /// a device left out is not read at all, so a defect in it goes unnoticed. The boot
    /// path reads only what its partitions use this way; the host reads everything.
    pub fn from_tree(
        tree: &Tree<'_>,
        keep: Option<&DeviceFilter<'_>>,
    ) -> Result<Self, ConfigError> {
        // Every phandle must read, not only those something refers to.
        tree.nodes().try_for_each(|n| n.phandle().map(drop))?;
        let mut walker = Walker { tree, keep, platform: Platform::default(), levels: Vec::new() };
        let root = Scope::new(tree.root(), true, None)?;
        for child in tree.root().children() {
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

/// Which devices [`Platform::from_tree`] records besides the interrupt controllers.
#[derive(Clone, Copy, Debug)]
pub struct DeviceFilter<'f> {
    /// The devices at these platform-DT paths.
    pub paths: &'f [&'f str],
    /// The devices compatible with any of these.
    pub compatible: &'f [&'f str],
}

/// Compatibles of the Arm GIC bindings, whose specifiers are `<type number flags>`.
const GIC_COMPATIBLES: &[&str] =
    &["arm,gic-v3", "arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic"];

/// What the children of a node inherit from it.
#[derive(Clone, Copy)]
struct Scope<'t> {
    node: Node<'t>,
    /// `#address-cells` and `#size-cells` for the children's `reg`.
    cells: (usize, usize),
    /// Whether the children's addresses reach the CPU through [`Walker::levels`]; not
    /// when some bus on the way has no `ranges` (I2C, SPI, PCI children): not MMIO.
    mmio: bool,
    /// The interrupt-parent phandle in force.
    interrupt_parent: Option<u32>,
}

impl<'t> Scope<'t> {
    fn new(node: Node<'t>, mmio: bool, inherited: Option<u32>) -> Result<Self, ConfigError> {
        let cells = node.cell_sizes()?;
        let interrupt_parent = node.u32("interrupt-parent")?.or(inherited);
        Ok(Self { node, cells, mmio, interrupt_parent })
    }
}

struct Walker<'t, 'k> {
    tree: &'t Tree<'t>,
    /// Which devices to record (`None`: all).
    keep: Option<&'k DeviceFilter<'k>>,
    platform: Platform,
    /// How addresses in the current scope reach the CPU, innermost level last (one per
    /// bus entered with `ranges`; meaningful while the scope is `mmio`).
    levels: Vec<Level>,
}

impl<'t> Walker<'t, '_> {
    fn visit(&mut self, scope: &Scope<'t>, node: Node<'t>) -> Result<(), ConfigError> {
        let at_root = scope.node.is_root();
        let names = ["device_type", "reg", "compatible", "interrupt-controller", "msi-controller", "io-ports"];
        let [device_type, reg, compatible, controller, msi, ports] = node.props_named(names);
        if at_root && device_type.is_some() && node.string("device_type")? == Some("memory") {
            return self.memory(scope, node);
        }
        if at_root && node.name() == "cpus" {
            return self.cpus(node);
        }
        if at_root && node.name() == "reserved-memory" {
            return Ok(());
        }
        if at_root && node.name() == "psci" {
            self.platform.psci_method = node.string("method")?.map(ToString::to_string);
        }
        let addressed = reg.is_some() || ports.is_some();
        if scope.mmio && addressed && self.wanted(node, compatible, controller.or(msi)) {
            let device = self.device(scope, node)?;
            self.platform.devices.push(device);
        }
        if node.children().len() == 0 && self.keep.is_some() {
            return Ok(());
        }
        // The scope for the node's own children.
        let level = match scope.mmio {
            true => node.ranges(scope.cells.0)?,
            false => None,
        };
        let inner = Scope::new(node, level.is_some(), scope.interrupt_parent)?;
        let pushed = level.map(|level| self.levels.push(level)).is_some();
        let result = node.children().try_for_each(|c| self.visit(&inner, c));
        if pushed {
            self.levels.pop();
        }
        result
    }

    /// Whether to record the device at `node` with these `compatible` and
    /// `interrupt-controller` (or `msi-controller`) values.
    fn wanted(&self, node: Node<'t>, compatible: Option<&[u8]>, controller: Option<&[u8]>) -> bool {
        let Some(keep) = self.keep else { return true };
        controller.is_some()
            || keep.paths.iter().any(|p| node.has_path(p))
            || compatible.is_some_and(|c| dt::compatible_with(c, keep.compatible))
    }

    fn memory(&mut self, scope: &Scope<'t>, node: Node<'t>) -> Result<(), ConfigError> {
        for (base, size) in node.reg(scope.cells)? {
            let range =
                Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size).ok_or_else(|| {
                    ConfigError::property(&node.path(), "reg", "empty or wrapping range")
                })?;
            self.platform.memory.push(range);
        }
        Ok(())
    }

    fn cpus(&mut self, cpus: Node<'t>) -> Result<(), ConfigError> {
        let scope = Scope::new(cpus, false, None)?;
        for cpu in cpus.children().filter(|c| c.base_name() == "cpu") {
            let Some(&(id, _)) = cpu.reg(scope.cells)?.first() else {
                return Err(ConfigError::property(&cpu.path(), "reg", "missing required property"));
            };
            self.platform.cpus.push(PlatformCpu { id, node: cpu.path().to_string() });
        }
        Ok(())
    }

    fn device(&self, scope: &Scope<'t>, node: Node<'t>) -> Result<PlatformDevice, ConfigError> {
        let compatible = node.prop("compatible").and_then(dt::strings).unwrap_or_default();
        let mut mmio = Vec::new();
        for (base, size) in node.reg(scope.cells)?.into_iter().filter(|&(_, size)| size != 0) {
            let cpu = dt::translate(&self.levels, base, size).ok_or_else(|| {
                let reason = format!("{base:#x} + {size:#x} is outside the parent bus's ranges");
                ConfigError::property(&node.path(), "reg", reason)
            })?;
            let range = Range::<HostPhysAddr>::new(HostPhysAddr::new(cpu), size)
                .ok_or_else(|| ConfigError::property(&node.path(), "reg", "range wraps around"))?;
            mmio.push(range);
        }
        Ok(PlatformDevice {
            path: node.path().to_string(),
            compatible: compatible.iter().map(|c| c.to_string()).collect(),
            mmio,
            interrupts: self.interrupts(scope, node)?,
            ports: io_ports(node)?,
            dma: node.prop("dma-coherent").is_some() || compatible.contains(&"virtio,mmio"),
            interrupt_controller: node.prop("interrupt-controller").is_some()
                || node.prop("msi-controller").is_some(),
            hypervisor_owned: node.prop("bulkhead,hypervisor-owned").is_some(),
        })
    }

    /// Decode `interrupts` (by the interrupt parent) and `interrupts-extended`.
    fn interrupts(&self, scope: &Scope<'t>, node: Node<'t>) -> Result<Vec<u32>, ConfigError> {
        let mut ids = Vec::new();
        if node.prop("interrupts").is_some() {
            let parent = match node.u32("interrupt-parent")?.or(scope.interrupt_parent) {
                Some(phandle) => self.phandle(node, "interrupt-parent", phandle)?,
                None => scope.node,
            };
            let n = interrupt_cells(node, "interrupts", parent)?;
            for spec in node.entries("interrupts", n)?.chunks_exact(n) {
                ids.push(decode(node, "interrupts", parent, spec)?);
            }
        }
        if let Some(value) = node.prop("interrupts-extended") {
            let all = node.cells("interrupts-extended")?.unwrap_or_default();
            let mut rest = all.as_slice();
            while let Some((&phandle, tail)) = rest.split_first() {
                let parent = self.phandle(node, "interrupts-extended", phandle)?;
                let n = interrupt_cells(node, "interrupts-extended", parent)?;
                let Some((spec, tail)) = tail.split_at_checked(n) else {
                    let error = node.size_error("interrupts-extended", "whole specifiers", value);
                    return Err(error.into());
                };
                ids.push(decode(node, "interrupts-extended", parent, spec)?);
                rest = tail;
            }
        }
        Ok(ids)
    }

    fn phandle(
        &self,
        node: Node<'t>,
        property: &str,
        phandle: u32,
    ) -> Result<Node<'t>, ConfigError> {
        let reason = || format!("no node has phandle {phandle:#x}");
        self.tree
            .by_phandle(phandle)
            .ok_or_else(|| ConfigError::property(&node.path(), property, reason()))
    }
}

/// `io-ports = <base count …>`: ranges of the 64 KiB I/O space.
fn io_ports(node: Node<'_>) -> Result<Vec<Range<IoPort>>, ConfigError> {
    let mut ports = Vec::new();
    for pair in node.entries("io-ports", 2)?.chunks_exact(2) {
        let (base, count) = (u64::from(pair[0]), u64::from(pair[1]));
        let range = Range::<IoPort>::new(IoPort::new(base), count)
            .filter(|r| r.last().as_u64() <= 0xffff)
            .ok_or_else(|| ConfigError::property(&node.path(), "io-ports", format!("{base:#x} + {count:#x} is not inside ports 0..=0xffff")))?;
        ports.push(range);
    }
    Ok(ports)
}

/// The interrupt parent's `#interrupt-cells` (at least 1).
fn interrupt_cells(node: Node<'_>, property: &str, parent: Node<'_>) -> Result<usize, ConfigError> {
    match parent.u32("#interrupt-cells")? {
        Some(n) if n >= 1 => Ok(n as usize),
        _ => {
            let reason =
                format!("interrupt parent {} has no usable #interrupt-cells", parent.path());
            Err(ConfigError::property(&node.path(), property, reason))
        }
    }
}

/// One specifier to an interrupt id, by the parent's binding.
fn decode(
    node: Node<'_>,
    property: &str,
    parent: Node<'_>,
    spec: &[u32],
) -> Result<u32, ConfigError> {
    let gic = parent.is_compatible(GIC_COMPATIBLES);
    let id = match *spec {
        // Arm GIC binding: SPI, PPI, and the GICv3.1 extended ESPI and EPPI ranges.
        [kind, number, _, ..] if gic => match kind {
            0 => number.checked_add(32),
            1 => number.checked_add(16),
            2 => number.checked_add(4096),
            3 => number.checked_add(1056),
            _ => {
                let reason = format!("unknown GIC interrupt type {kind}");
                return Err(ConfigError::property(&node.path(), property, reason));
            }
        },
        [first, ..] => Some(first),
        [] => None,
    };
    id.ok_or_else(|| ConfigError::property(&node.path(), property, "interrupt number out of range"))
}

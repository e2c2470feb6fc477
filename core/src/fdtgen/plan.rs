//! The generated (not copied) nodes: root, `/chosen`, memory, CPUs, PSCI, GIC, timer
//! and the virtual console.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::copy::Refs;
use super::node::Node;
use super::spec::{GuestDtSpec, VirtualConsole, GICR_FRAME_SIZE, PL011_SIZE};
use super::FdtGenError;
use crate::addr::{GuestPhysAddr, Range};

/// Phandle of the guest GIC; generated clocks follow it.
pub(super) const GIC_PHANDLE: u32 = 1;
/// Most vCPUs: `cpu@i/reg` is the virtual MPIDR, and only Aff0 (8 bits) is used.
pub const MAX_VCPUS: u32 = 256;
/// The generic timer's PPIs as `<type number flags>` (GIC PPI, level-high): secure
/// physical 29, non-secure physical 30, virtual 27, hypervisor 26 (INTID - 16), in the
/// order of the `arm,armv8-timer` binding.
const TIMER_PPIS: [u32; 12] = [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4];
/// First and last SPI INTIDs (GICv3 Architecture Specification, 2.2.1).
const SPI_INTIDS: core::ops::RangeInclusive<u32> = 32..=1019;

fn spec_error(field: &'static str, reason: &'static str) -> FdtGenError {
    FdtGenError::Spec { field, reason }
}

/// The root node with its own properties and no children yet.
pub(super) fn root(spec: &GuestDtSpec<'_>) -> Result<Node<'static>, FdtGenError> {
    let mut root = Node::new("");
    root.strs("compatible", &["linux,dummy-virt"]);
    root.text("model", &format!("bulkhead,{}", spec.name), "name")?;
    root.u32("#address-cells", 2).u32("#size-cells", 2).u32("interrupt-parent", GIC_PHANDLE);
    Ok(root)
}

/// `/chosen`: boot arguments, console, initrd and who the partition is.
pub(super) fn chosen(
    spec: &GuestDtSpec<'_>,
    stdout: Option<&str>,
) -> Result<Node<'static>, FdtGenError> {
    let mut n = Node::new("chosen");
    if let Some(args) = &spec.bootargs {
        n.text("bootargs", args, "bootargs")?;
    }
    if let Some(path) = stdout {
        n.text("stdout-path", path, "console")?;
    }
    if let Some(rd) = spec.initrd {
        let end = rd.start.checked_add(rd.size).ok_or(spec_error("initrd", "ends past 2^64"))?;
        n.bytes("linux,initrd-start", &rd.start.as_u64().to_be_bytes());
        n.bytes("linux,initrd-end", &end.as_u64().to_be_bytes());
    }
    n.text("bulkhead,partition", &spec.name, "name")?;
    n.u32("bulkhead,partition-id", spec.id);
    Ok(n)
}

/// One `memory@<base>` node per region.
pub(super) fn memory(regions: &[Range<GuestPhysAddr>]) -> Result<Vec<Node<'static>>, FdtGenError> {
    if regions.is_empty() {
        return Err(spec_error("memory", "no RAM region"));
    }
    let node = |r: &Range<GuestPhysAddr>| {
        let mut n = Node::new(format!("memory@{:x}", r.start.as_u64()));
        n.strs("device_type", &["memory"]).reg64("reg", &[(r.start.as_u64(), r.size)]);
        n
    };
    Ok(regions.iter().map(node).collect())
}

/// `/cpus` with `cpu@0` … `cpu@<vcpus - 1>`, started through PSCI.
pub(super) fn cpus(vcpus: u32, compatible: Option<&[u8]>) -> Result<Node<'_>, FdtGenError> {
    if vcpus == 0 || vcpus > MAX_VCPUS {
        return Err(spec_error("vcpus", "must be 1 to 256 (MPIDR Aff0)"));
    }
    let compatible = compatible.unwrap_or(b"arm,armv8\0");
    let mut n = Node::new("cpus");
    n.u32("#address-cells", 1).u32("#size-cells", 0);
    for i in 0..vcpus {
        let mut cpu = Node::new(format!("cpu@{i:x}"));
        cpu.strs("device_type", &["cpu"]).raw("compatible", compatible);
        cpu.u32("reg", i).strs("enable-method", &["psci"]);
        n.children.push(cpu);
    }
    Ok(n)
}

/// `/psci`.
pub(super) fn psci(spec: &GuestDtSpec<'_>) -> Node<'static> {
    let mut n = Node::new("psci");
    n.strs("compatible", &["arm,psci-1.0", "arm,psci-0.2"]).strs("method", &[spec.psci.method()]);
    n
}

/// The GICv3 node: the distributor and one redistributor region with a frame per vCPU.
pub(super) fn gic(spec: &GuestDtSpec<'_>) -> Result<Node<'static>, FdtGenError> {
    let gicd = spec.gic.gicd;
    let gicr_size = u64::from(spec.vcpus) * GICR_FRAME_SIZE;
    let gicr = Range::<GuestPhysAddr>::new(spec.gic.gicr_base, gicr_size)
        .ok_or(spec_error("gic", "GICR region wraps"))?;
    let mut n = Node::new(format!("intc@{:x}", gicd.start.as_u64()));
    n.strs("compatible", &["arm,gic-v3"]).u32("#interrupt-cells", 3).flag("interrupt-controller");
    n.u32("#address-cells", 2).u32("#size-cells", 2).u32("#redistributor-regions", 1);
    let reg = [(gicd.start.as_u64(), gicd.size), (gicr.start.as_u64(), gicr.size)];
    n.reg64("reg", &reg).u32("phandle", GIC_PHANDLE);
    Ok(n)
}

/// The generic timer (`arm,armv8-timer`).
pub(super) fn timer() -> Node<'static> {
    let mut n = Node::new("timer");
    n.strs("compatible", &["arm,armv8-timer"]).cells("interrupts", &TIMER_PPIS).flag("always-on");
    n
}

/// The emulated PL011 `pl011@<base>`, clocked by the generated `apb-pclk`.
pub(super) fn console(c: &VirtualConsole, refs: &mut Refs) -> Result<Node<'static>, FdtGenError> {
    if !SPI_INTIDS.contains(&c.intid) {
        return Err(spec_error("console", "interrupt is not an SPI (INTID 32..=1019)"));
    }
    let clk = refs.apb_pclk();
    let mut n = Node::new(console_name(c));
    n.strs("compatible", &["arm,pl011", "arm,primecell"]);
    n.reg64("reg", &[(c.base.as_u64(), PL011_SIZE)]);
    n.cells("interrupts", &[0, c.intid - 32, 4]);
    n.cells("clocks", &[clk, clk]).strs("clock-names", &["uartclk", "apb_pclk"]);
    Ok(n)
}

/// Node name of the virtual console.
pub(super) fn console_name(c: &VirtualConsole) -> String {
    format!("pl011@{:x}", c.base.as_u64())
}

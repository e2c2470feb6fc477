//! What the guest learns from the device tree it is handed in x0.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use fdt::node::FdtNode;
use fdt::Fdt;

use crate::boot::MAX_CPUS;
use crate::console::DEFAULT_UART;
use crate::smccc::Conduit;

/// The machine as described by the device tree.
#[derive(Clone, Copy)]
pub struct Platform {
    /// Partition name (`/chosen/bulkhead,partition`), `"native"` without a hypervisor.
    pub name: &'static str,
    /// Partition id (`/chosen/bulkhead,partition-id`), 0 without a hypervisor.
    pub id: u32,
    /// True when the Bulkhead `/chosen` properties are absent (bare QEMU).
    pub native: bool,
    /// `/chosen/bootargs`, empty if absent.
    pub bootargs: &'static str,
    /// Number of `/cpus/cpu` nodes.
    pub ncpus: usize,
    /// MPIDR affinity (`reg`) of the first [`MAX_CPUS`] cpu nodes, in DT order.
    pub mpidr: [u64; MAX_CPUS],
    /// First `/memory` region: base and size.
    pub mem: (u64, u64),
    /// PL011 base from `/chosen/stdout-path`, else QEMU's default.
    pub uart: usize,
    /// GICv3 distributor base.
    pub gicd: usize,
    /// GICv3 redistributor region: base and size.
    pub gicr: (usize, usize),
    /// How PSCI is called (`/psci/method`).
    pub psci: Conduit,
    /// A PL031 RTC (`arm,pl031`) if the tree has one: base and INTID.
    pub rtc: Option<(usize, u32)>,
}

/// Parses the device tree at `dtb` into a [`Platform`].
///
/// # Safety
/// `dtb` must point at a flattened device tree that stays untouched for the guest's life.
pub unsafe fn probe(dtb: usize) -> Result<Platform, &'static str> {
    // SAFETY: the caller guarantees a valid, immutable DTB at `dtb`.
    let fdt: Fdt<'static> = unsafe { Fdt::from_ptr(dtb as *const u8) }.map_err(|_| "bad dtb")?;
    let chosen = fdt.find_node("/chosen");
    let prop_str = |name| {
        chosen
            .and_then(|c| c.property(name))
            .and_then(|p| p.as_str())
    };
    let partition = prop_str("bulkhead,partition");
    let id = chosen
        .and_then(|c| c.property("bulkhead,partition-id"))
        .and_then(|p| p.as_usize());
    let (ncpus, mpidr) = cpus(&fdt)?;
    let gic = fdt
        .find_compatible(&["arm,gic-v3"])
        .ok_or("no arm,gic-v3 node")?;
    let mut gic_regs = gic.reg().ok_or("gic without reg")?;
    let gicd = gic_regs.next().ok_or("gic without GICD reg")?;
    let gicr = gic_regs.next().ok_or("gic without GICR reg")?;
    Ok(Platform {
        name: partition.unwrap_or("native"),
        id: id.unwrap_or(0) as u32,
        native: partition.is_none(),
        bootargs: prop_str("bootargs").unwrap_or(""),
        ncpus,
        mpidr,
        mem: memory(&fdt)?,
        uart: stdout_uart(&fdt, chosen).unwrap_or(DEFAULT_UART),
        gicd: gicd.starting_address as usize,
        gicr: (gicr.starting_address as usize, gicr.size.unwrap_or(0)),
        psci: psci_conduit(&fdt)?,
        rtc: rtc(&fdt),
    })
}

/// The first `arm,pl031` node: its MMIO base and its interrupt as a GIC INTID (an SPI
/// specifier `<0 n flags>` is INTID 32 + n).
fn rtc(fdt: &Fdt<'static>) -> Option<(usize, u32)> {
    let node = fdt.find_compatible(&["arm,pl031"])?;
    let base = node.reg()?.next()?.starting_address as usize;
    let cells = node.property("interrupts")?.value;
    let cell = |i: usize| {
        Some(u32::from_be_bytes(
            cells.get(4 * i..4 * i + 4)?.try_into().ok()?,
        ))
    };
    (cell(0)? == 0).then_some(())?;
    Some((base, 32 + cell(1)?))
}

fn cpus(fdt: &Fdt<'static>) -> Result<(usize, [u64; MAX_CPUS]), &'static str> {
    let node = fdt.find_node("/cpus").ok_or("no /cpus")?;
    let mut mpidr = [0; MAX_CPUS];
    let mut n = 0;
    for cpu in node
        .children()
        .filter(|c| c.name.split('@').next() == Some("cpu"))
    {
        let reg = cpu
            .property("reg")
            .and_then(|p| p.as_usize())
            .ok_or("cpu without reg")?;
        if let Some(slot) = mpidr.get_mut(n) {
            *slot = reg as u64;
        }
        n += 1;
    }
    if n == 0 {
        return Err("no cpu nodes");
    }
    Ok((n, mpidr))
}

fn memory(fdt: &Fdt<'static>) -> Result<(u64, u64), &'static str> {
    let node = fdt.find_node("/memory").ok_or("no /memory")?;
    let region = node
        .reg()
        .and_then(|mut r| r.next())
        .ok_or("memory without reg")?;
    Ok((
        region.starting_address as u64,
        region.size.unwrap_or(0) as u64,
    ))
}

fn stdout_uart(fdt: &Fdt<'static>, chosen: Option<FdtNode<'_, 'static>>) -> Option<usize> {
    let path = chosen?.property("stdout-path")?.as_str()?;
    // "path:options" (DT spec 3.6): only the path names the node.
    let node = fdt.find_node(path.split(':').next()?)?;
    Some(node.reg()?.next()?.starting_address as usize)
}

fn psci_conduit(fdt: &Fdt<'static>) -> Result<Conduit, &'static str> {
    let node = fdt
        .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .or_else(|| fdt.find_node("/psci"))
        .ok_or("no psci node")?;
    match node.property("method").and_then(|p| p.as_str()) {
        Some("hvc") => Ok(Conduit::Hvc),
        Some("smc") => Ok(Conduit::Smc),
        _ => Err("psci method is neither hvc nor smc"),
    }
}

/// A value written once by vCPU 0 before any secondary starts, then only read.
pub struct Once<T> {
    ready: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once before `ready` is published and never again;
// readers only look after seeing `ready`.
unsafe impl<T: Sync> Sync for Once<T> {}

impl<T: Copy> Once<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Once {
            ready: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Stores `value`; later calls are ignored.
    pub fn set(&self, value: T) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: only vCPU 0 calls set, before it publishes `ready` or starts others.
        unsafe { *self.value.get() = Some(value) };
        self.ready.store(true, Ordering::Release);
    }

    /// The stored value, if set.
    pub fn get(&self) -> Option<T> {
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `ready` is set, so the value is written and never changes again.
        unsafe { *self.value.get() }
    }
}

/// The platform, published by vCPU 0 for the secondaries.
pub static PLATFORM: Once<Platform> = Once::new();

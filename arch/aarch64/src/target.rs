//! The ARM64 build's rules for core's validator ([`Target`]): limits, the windows the
//! vGIC and the virtual console occupy in every partition, image placement, table
//! frames, and the hypervisor's own RAM needs.
//!
//! The same functions run in `cargo bh check` on the host and at boot, so a config the
//! check accepts is one this build can boot (doc/config.md, "Validation rules").

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, Range};
use bulkhead_core::config::{
    BootImages, ConfigError, ConsoleKind, Footprint, GuestView, Partition, Placement, Platform, Target, Window,
};
use bulkhead_core::fdtgen::{GicV3Layout, GuestBoard, PsciConduit, VirtualConsole, GICR_FRAME_SIZE, PL011_SIZE};
use bulkhead_core::stage2::{count_frames, DescriptorFormat, Region};

use crate::image;
use crate::stage2::Aarch64Stage2;
use crate::vgic::{MAX_VCPUS, SPI_FIRST, SPI_LAST};

/// Most physical CPUs the runtime drives (a stack each, from the heap). Above it a
/// platform is refused rather than half used.
pub const MAX_CPUS: usize = 64;
/// Most bytes the image takes before the bundle: code, data, `.bss` and the boot CPU's
/// stack. `link.ld` fails the link if the image grows past it.
pub const IMAGE_MAX: u64 = 1 << 20;
/// The hypervisor heap: partition control blocks, guest device trees, the platform DTB
/// copy and the other CPUs' stacks.
pub const HEAP_SIZE: u64 = 8 << 20;
/// The pool every partition's stage-2 table frames come from.
pub const FRAMES_SIZE: u64 = 4 << 20;
/// Size of the GICv3 distributor window a partition sees (IHI 0069 12.8).
const GICD_SIZE: u64 = 0x1_0000;
/// UARTs of the kinds guests commonly drive (for the console rule).
const UARTS: &[&str] = &[
    "arm,pl011",
    "arm,sbsa-uart",
    "ns16550a",
    "ns16550",
    "snps,dw-apb-uart",
    "cdns,uart-r1p12",
    "xlnx,xuartps",
    "brcm,bcm2835-aux-uart",
];

/// This build's rules, for a hypervisor image loaded at `load`.
pub fn target(load: HostPhysAddr) -> Target {
    Target {
        max_cpus: MAX_CPUS,
        max_vcpus: MAX_VCPUS,
        ipa_bits: Aarch64Stage2::new().ipa_bits(),
        pa_bits: Aarch64Stage2::new().pa_bits(),
        console_uarts: &["arm,pl011"],
        uarts: UARTS,
        doorbells: (SPI_FIRST, SPI_LAST),
        guest: guest_view,
        place,
        table_frames: Some(table_frames),
        footprint: Footprint { load, image_max: IMAGE_MAX, heap: HEAP_SIZE, frames: FRAMES_SIZE },
    }
}

/// What every partition on `platform` sees of the hypervisor: the emulated GICv3 at the
/// platform's GIC addresses, PSCI over HVC, and a virtual console where the platform's
/// first PL011 is. Refuses a platform the build cannot run on.
pub fn guest_board(platform: &Platform) -> Result<GuestBoard, ConfigError> {
    // CPUs start through the PSCI conduit the platform names; from EL2 only SMC reaches
    // the firmware (an HVC would trap to this hypervisor itself).
    match platform.psci_method.as_deref() {
        Some("smc") => {}
        other => {
            let reason = format!(
                "the hypervisor starts CPUs through PSCI over SMC from EL2; the platform says {}",
                other.map_or(String::from("nothing (no /psci node)"), |m| format!("\"{m}\""))
            );
            return Err(ConfigError::property("/psci", "method", reason));
        }
    }
    let gic = platform
        .devices
        .iter()
        .find(|d| d.compatible.iter().any(|c| c == "arm,gic-v3"))
        .ok_or_else(|| ConfigError::node("/", "the platform has no GICv3 (compatible \"arm,gic-v3\"), the interrupt controller this build drives"))?;
    let (gicd, gicr) = match gic.mmio.as_slice() {
        [d, r, ..] => (*d, *r),
        _ => return Err(ConfigError::property(&gic.path, "reg", "a GICv3 node needs its GICD and GICR regions")),
    };
    let uart = platform
        .devices
        .iter()
        .find(|d| d.compatible.iter().any(|c| c == "arm,pl011"))
        .ok_or_else(|| ConfigError::node("/", "the platform has no PL011 to model virtual consoles on"))?;
    let base = uart.mmio.first().ok_or_else(|| ConfigError::property(&uart.path, "reg", "missing"))?.start;
    let console = VirtualConsole {
        base: GuestPhysAddr::new(base.as_u64()),
        intid: uart.interrupts.first().copied().unwrap_or(SPI_FIRST + 1),
    };
    let gic = GicV3Layout {
        gicd: Range::new(GuestPhysAddr::new(gicd.start.as_u64()), GICD_SIZE)
            .ok_or_else(|| ConfigError::property(&gic.path, "reg", "GICD range wraps"))?,
        gicr_base: GuestPhysAddr::new(gicr.start.as_u64()),
    };
    Ok(GuestBoard { gic, psci: PsciConduit::Hvc, console })
}

/// The windows and interrupts partition `p` gets from the hypervisor.
fn guest_view(platform: &Platform, p: &Partition) -> Result<GuestView, ConfigError> {
    let board = guest_board(platform)?;
    let window = |start: GuestPhysAddr, size: u64, what: &str| {
        let range = Range::new(start, size).ok_or_else(|| ConfigError::node("/", format!("{what} wraps around")))?;
        Ok::<_, ConfigError>(Window { range, what: what.into() })
    };
    let mut windows = Vec::from([
        window(board.gic.gicd.start, board.gic.gicd.size, "the emulated GICD")?,
        window(board.gic.gicr_base, GICR_FRAME_SIZE * p.cpus.len() as u64, "the emulated GICR frames")?,
    ]);
    // Every PPI: the timers' (delivered by the hypervisor), the rest per-CPU and never a
    // partition's to own.
    let mut interrupts: Vec<u32> = (16..32).collect();
    if p.console == ConsoleKind::Virtual {
        windows.push(window(board.console.base, PL011_SIZE, "the virtual console")?);
        interrupts.push(board.console.intid);
    }
    Ok(GuestView { windows, ports: Vec::new(), interrupts })
}

/// The arm64 boot protocol's placement in the memory region holding the load address
/// (default: the first region), as a config error naming the partition.
fn place(p: &Partition, images: &BootImages<'_>) -> Result<Placement, ConfigError> {
    let region = match p.boot.load {
        Some(at) => p.memory.iter().find(|r| r.guest.contains(at)),
        None => p.memory.first(),
    };
    let region = region.ok_or_else(|| ConfigError::property(&p.node, "load-address", "outside the partition's memory"))?;
    let initrd = images.initrd.map(|i| i.len() as u64);
    let kernel_size = match image::image_header(images.kernel) {
        Some((_, image_size)) => image_size.max(images.kernel.len() as u64),
        None => images.kernel.len() as u64,
    };
    let placed = image::place(region.guest, images.kernel, initrd, p.boot.load).map_err(|e| {
        let reason = format!(
            "{} (kernel {} KiB, initrd {} KiB, device tree up to {} KiB) in {} ({} KiB)",
            e.0,
            kernel_size.div_ceil(1024),
            initrd.unwrap_or(0).div_ceil(1024),
            image::DTB_MAX / 1024,
            region.node,
            region.guest.size / 1024,
        );
        ConfigError::property(&p.node, "kernel", reason)
    })?;
    Ok(Placement {
        kernel: placed.kernel,
        entry: placed.kernel,
        info: placed.dtb,
        info_max: image::DTB_MAX,
        initrd: placed.initrd,
    })
}

fn table_frames(regions: &[Region]) -> Result<usize, String> {
    count_frames(Aarch64Stage2::new(), regions)
}

#[cfg(test)]
mod tests;

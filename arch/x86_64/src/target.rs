//! The x86_64 build's rules for core's validator ([`Target`]): limits, what every
//! partition gets from the hypervisor (doc/x86.md: the virtual I/O APIC and local APIC
//! windows, the console, ACPI PM and reset ports), the boot protocol's placement, table
//! frames, and the hypervisor's own RAM needs.
//!
//! The same functions run in `cargo bh check` on the host and at boot.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, IoPort, Range};
use bulkhead_core::config::{
    BootImages, ConfigError, ConsoleKind, Footprint, GuestView, Partition, Placement, Platform, PortWindow, Target,
    Window,
};
use bulkhead_core::stage2::{count_frames, DescriptorFormat, Region};

use crate::ept::Ept;
use crate::guestboot::{self, ACPI, ACPI_MAX, CMDLINE, CMDLINE_MAX, IOAPIC_BASE, LAPIC_BASE, ZERO_PAGE};
use crate::{kernel, vioapic};

/// Most physical CPUs the runtime drives.
pub const MAX_CPUS: usize = 64;
/// Most vCPUs a partition may have (its x2APIC ids are the vCPU indices).
pub const MAX_VCPUS: usize = 64;
/// Most bytes the image takes before the bundle; `link.ld` fails the link beyond it.
pub const IMAGE_MAX: u64 = 1 << 20;
/// The hypervisor heap (partition state, VMCSs, CPU stacks, boot information).
pub const HEAP_SIZE: u64 = 8 << 20;
/// The pool every partition's EPT table frames come from.
pub const FRAMES_SIZE: u64 = 4 << 20;
/// The hypervisor identity-maps the first 4 GiB for itself (boot.s), so every range it
/// touches (its memory, partition RAM it loads, tables) must lie below.
const PA_BITS: u32 = 32;
/// COM1, the partition's virtual console, and its ISA interrupt.
const COM1: u64 = 0x3f8;
const COM1_IRQ: u32 = 4;
/// The lowest address a kernel may load at: below sit the zero page, command line and
/// the ACPI tables (doc/x86.md).
const KERNEL_MIN: u64 = 0x10_0000;

/// This build's rules, for a hypervisor image loaded at `load`.
pub fn target(load: HostPhysAddr) -> Target {
    Target {
        max_cpus: MAX_CPUS,
        max_vcpus: MAX_VCPUS,
        ipa_bits: Ept::new().ipa_bits(),
        pa_bits: PA_BITS,
        console_uarts: &["ns16550a", "ns16550"],
        uarts: &["ns16550a", "ns16550"],
        doorbells: (vioapic::DOORBELL_FIRST, vioapic::PINS - 1),
        guest: guest_view,
        place,
        table_frames: Some(table_frames),
        footprint: Footprint { load, image_max: IMAGE_MAX, heap: HEAP_SIZE, frames: FRAMES_SIZE },
    }
}

fn window(start: u64, size: u64, what: &str) -> Window {
    // Constant, non-empty ranges: `new` cannot fail.
    let range = Range::new(GuestPhysAddr::new(start), size).unwrap_or(Range { start: GuestPhysAddr::new(start), size });
    Window { range, what: what.into() }
}

fn ports(start: u64, count: u64, what: &str) -> PortWindow {
    let range = Range::new(IoPort::new(start), count).unwrap_or(Range { start: IoPort::new(start), size: count });
    PortWindow { range, what: what.into() }
}

/// What every partition gets: the I/O APIC and local APIC pages, the PM and reset
/// ports, and with a virtual console COM1 and its interrupt.
fn guest_view(_platform: &Platform, p: &Partition) -> Result<GuestView, ConfigError> {
    let windows = Vec::from([
        window(u64::from(IOAPIC_BASE), 0x1000, "the emulated I/O APIC"),
        window(u64::from(LAPIC_BASE), 0x1000, "the local APIC page"),
    ]);
    let mut view = GuestView {
        windows,
        ports: Vec::from([
            ports(u64::from(guestboot::PM1A_EVT), 8, "the ACPI PM ports"),
            ports(u64::from(guestboot::RESET_PORT), 1, "the reset port"),
        ]),
        interrupts: Vec::new(),
    };
    if p.console == ConsoleKind::Virtual {
        view.ports.push(ports(COM1, 8, "the virtual console (COM1)"));
        view.interrupts.push(COM1_IRQ);
    }
    Ok(view)
}

/// doc/x86.md's layout: the first region starts at 0 and holds the zero page, command
/// line and ACPI tables; ELF segments at their physical addresses above 1 MiB; the
/// initrd at the top of the first region, below 4 GiB.
fn place(p: &Partition, images: &BootImages<'_>) -> Result<Placement, ConfigError> {
    let kernel_error = |reason: String| ConfigError::property(&p.node, "kernel", reason);
    let first = p.memory.first().ok_or_else(|| ConfigError::node(&p.node, "no memory region"))?;
    if first.guest.start.as_u64() != 0 || first.guest.size < 2 << 20 {
        let reason = "an x86 partition's first region must start at guest-physical 0 and hold at least 2 MiB (doc/x86.md)";
        return Err(ConfigError::property(&first.node, "reg", reason));
    }
    if p.boot.load.is_some() {
        let reason = "x86 images load where their ELF program headers say; remove load-address";
        return Err(ConfigError::property(&p.node, "load-address", reason));
    }
    if p.boot.dtb.is_some() {
        return Err(ConfigError::property(&p.node, "dtb", "x86 partitions boot with ACPI tables, not a device tree"));
    }
    if p.boot.bootargs.as_ref().is_some_and(|b| b.len() >= CMDLINE_MAX) {
        return Err(ConfigError::property(&p.node, "bootargs", format!("longer than {} bytes", CMDLINE_MAX - 1)));
    }
    let image = kernel::read(images.kernel).map_err(|why| {
        kernel_error(format!("{why}: x86 partitions boot ELF64 images entered in 32-bit protected mode, or bzImages (doc/x86.md)"))
    })?;
    for piece in &image.pieces {
        let range = Range::new(GuestPhysAddr::new(piece.paddr), piece.mem)
            .ok_or_else(|| kernel_error(format!("a segment at {:#x} wraps", piece.paddr)))?;
        if piece.paddr < KERNEL_MIN || !p.memory.iter().any(|r| r.guest.contains_range(&range)) {
            return Err(kernel_error(format!(
                "its segment at GPA:{:#x}..GPA:{:#x} is not inside the partition's memory above 1 MiB",
                piece.paddr,
                piece.paddr + piece.mem
            )));
        }
    }
    let end = image.end;
    let first_end = first.guest.start.as_u64() + first.guest.size;
    if image.setup_header.is_some() && end > first_end {
        return Err(kernel_error(format!(
            "this bzImage needs memory up to GPA:{end:#x} to decompress itself, beyond {} (GPA:{first_end:#x})",
            first.node
        )));
    }
    let kernel = image.pieces.iter().map(|s| s.paddr).min().unwrap_or(KERNEL_MIN);
    let initrd = match images.initrd {
        Some(bytes) => {
            let top = first_end.min(1 << 32).min(image.initrd_limit);
            let at = top.checked_sub(bytes.len() as u64).map(|a| a & !0xfff);
            match at {
                Some(at) if at >= end.max(KERNEL_MIN) => Some(GuestPhysAddr::new(at)),
                _ => {
                    let reason = format!(
                        "kernel (up to GPA:{end:#x}) and initrd ({} KiB) do not fit in {} ({} KiB)",
                        bytes.len().div_ceil(1024),
                        first.node,
                        first.guest.size / 1024
                    );
                    return Err(ConfigError::property(&p.node, "initrd", reason));
                }
            }
        }
        None => None,
    };
    debug_assert!(ZERO_PAGE + 0x1000 <= CMDLINE && CMDLINE + CMDLINE_MAX as u64 <= ACPI && ACPI + ACPI_MAX <= KERNEL_MIN);
    Ok(Placement {
        kernel: GuestPhysAddr::new(kernel),
        entry: GuestPhysAddr::new(image.entry),
        info: GuestPhysAddr::new(ZERO_PAGE),
        info_max: 0x1000,
        initrd,
    })
}

fn table_frames(regions: &[Region]) -> Result<usize, String> {
    count_frames(Ept::new(), regions)
}

#[cfg(test)]
mod tests;

//! The boot CPU's set-up: boot information, bundle, heap, the platform checked against
//! the machine, config validation, partitions.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bulkhead_core::addr::{HostPhysAddr, Range};
use bulkhead_core::bundle::{Bundle, CONFIG_ENTRY, PLATFORM_ENTRY};
use bulkhead_core::config::{self, Platform};
use bulkhead_core::dt::Quoted;

use super::setup::{self, Part, FRAMES};
use super::{console, heap, ioapic, Identity};
use crate::acpi;
use crate::bootinfo::{self, BootInfo};
use crate::target::{self, FRAMES_SIZE, HEAP_SIZE};

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// What boot made.
pub struct Booted {
    /// Every partition.
    pub parts: Vec<&'static Part>,
    /// Platform CPUs by x2APIC id, the boot CPU first.
    pub cpus: Vec<u32>,
    /// TSC ticks per millisecond.
    pub tsc_per_ms: u64,
}

/// Everything up to running partitions; an error names what is wrong: for the config,
/// the same `<node>: <property>: <reason>` line `cargo bh check` prints.
pub fn boot(magic: u32, info: u32, ext: &super::Extension) -> Result<Booted, String> {
    let bi = bootinfo::read(magic, u64::from(info), &Identity).map_err(|e| String::from(e.0))?;
    if let Some(rsdp) = &bi.rsdp {
        super::RSDP.call_once(|| rsdp.clone());
    }
    let bundle_bytes = place_bundle(&bi)?;
    let heap_start = (bundle_bytes.as_ptr() as u64 + bundle_bytes.len() as u64).next_multiple_of(4096);
    let frames = Range::new(HostPhysAddr::new(heap_start + HEAP_SIZE), FRAMES_SIZE).ok_or("frames")?;
    // SAFETY: the heap and frame ranges follow the bundle inside the hypervisor's RAM
    // (check_boot below proves the config's hypervisor memory holds them before any
    // partition is loaded); nothing else uses them.
    unsafe {
        heap::add(heap_start as usize, HEAP_SIZE as usize);
        FRAMES.lock().add_range(frames);
    }
    let bundle: &'static Bundle<'static> =
        Box::leak(Box::new(Bundle::parse(bundle_bytes).map_err(|e| format!("bundle: {e}"))?));
    let config_dtb = bundle.config().ok_or("bundle has no config.dtb")?;
    let platform_dtb = bundle.get(PLATFORM_ENTRY).ok_or("bundle has no platform.dtb")?;
    let parsed = config::parse(config_dtb).map_err(|e| format!("config: {e}"))?;
    let platform = Platform::from_dtb(platform_dtb).map_err(|e| format!("platform: {e}"))?;
    let madt = bi.rsdp.as_ref().ok_or("the boot loader passed no ACPI tables").and_then(|r| {
        acpi::read_madt(r, &Identity).map_err(|e| e.0)
    })?;
    crate::machine::check(&platform, &bi.ram, &madt).map_err(|e| format!("platform: {e}"))?;
    let image_start = HostPhysAddr::new(core::ptr::addr_of!(__image_start) as u64);
    // The tables are built from the real pool below; `check` counted them already.
    let rules = config::Target { table_frames: None, ..target::target(image_start) };
    config::check_platform(&platform, &rules).map_err(|e| format!("platform: {e}"))?;
    let config = config::validate_owned(parsed, &platform, &rules).map_err(|e| format!("config: {e}"))?;
    let entry = |name: &str| {
        let known = name != CONFIG_ENTRY && name != PLATFORM_ENTRY;
        bundle.get(name).filter(|_| known).ok_or_else(|| format!("{} is not in the bundle", Quoted(name)))
    };
    let placements = config::check_boot(&config, &rules, entry, bundle.size() as u64).map_err(|e| format!("config: {e}"))?;
    console::init(console_port(&config, &platform));
    if let Some(io) = madt.ioapics.first() {
        ioapic::init(u64::from(io.address));
    }
    let tsc_per_ms = super::tsc::per_ms();
    super::apic::calibrate(tsc_per_ms);
    defmt::info!(
        "bulkhead on {=str} ({=str}): {=usize} partitions, TSC {=u64} kHz",
        super::board().name,
        ext.name(),
        config.partitions.len(),
        tsc_per_ms
    );
    let mut parts = Vec::new();
    for (id, placement) in placements.into_iter().enumerate() {
        let part: &'static Part = Box::leak(Box::new(setup::build(id, &config, bundle, placement, tsc_per_ms as u32, ext)?));
        let (entry, arg) = part.load(false).map_err(|e| format!("{}: {e}", part.config.node))?;
        part.ctl.boot(entry, arg).map_err(|_| String::from("partition refused to boot"))?;
        part.route_device_pins();
        parts.push(part);
    }
    report_footprint(heap_start - image_start.as_u64());
    let me = super::apic::id();
    let mut cpus = Vec::from([me]);
    cpus.extend(platform.cpus.iter().map(|c| c.id as u32).filter(|&id| id != me));
    Ok(Booted { parts, cpus, tsc_per_ms })
}

/// The boot loader put the bundle (module 0) somewhere; it belongs right after the
/// image, where the validated footprint has room for it.
fn place_bundle(bi: &BootInfo) -> Result<&'static [u8], String> {
    let &(at, len) = bi.modules.first().ok_or("no bundle: boot with the bundle as the first module (cargo bh image)")?;
    let dest = core::ptr::addr_of!(__image_end) as u64;
    if len > 1 << 31 || at.checked_add(len).is_none_or(|end| end > 1 << 32) {
        return Err(String::from("the bundle module is not below 4 GiB"));
    }
    // SAFETY: the module is the loader's copy of the bundle below 4 GiB (identity
    // mapped); the destination is the hypervisor's own memory after its image, which
    // nothing uses yet (the heap comes after the bundle). `copy` handles overlap.
    unsafe {
        if at != dest {
            core::ptr::copy(at as *const u8, dest as *mut u8, len as usize);
        }
        Ok(core::slice::from_raw_parts(dest as *const u8, len as usize))
    }
}

fn console_port(config: &config::Config, platform: &Platform) -> u16 {
    let port = config.hypervisor.console.as_deref().and_then(|path| platform.device(path)).and_then(|d| d.ports.first());
    port.map_or(0, |p| p.start.as_u64() as u16)
}

/// Logs the RAM the hypervisor holds once every partition is built.
fn report_footprint(image_and_bundle: u64) {
    let heap = heap::in_use() as u64;
    let tables = FRAMES_SIZE - FRAMES.lock().free_frames() as u64 * 4096;
    defmt::info!(
        "ram: image+bundle {=u64} KiB, heap {=u64} KiB in use, nested page tables {=u64} KiB",
        image_and_bundle / 1024,
        heap / 1024,
        tables / 1024
    );
}

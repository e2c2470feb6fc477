//! The boot CPU's set-up: DTB, bundle, heap, config validation, partitions.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bulkhead_core::addr::{HostPhysAddr, Range};
use bulkhead_core::bundle::{Bundle, CONFIG_ENTRY};
use bulkhead_core::config::{self, DeviceFilter, Platform};
use bulkhead_core::dt::{Quoted, Tree};

use super::setup::{self, Machine, Part, FRAMES};
use super::{console, gic, heap, mmu};
use crate::target::{self, FRAMES_SIZE, HEAP_SIZE};

core::arch::global_asm!(include_str!("boot.s"));

const DTB_MAX: usize = 1 << 20;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// What [`early`] finds: the platform DTB (copied), the bundle, and the RAM for stage-2
/// table frames.
pub struct Early {
    /// The platform DTB, copied to the heap.
    pub dtb: &'static [u8],
    /// The bundle after the image.
    pub bundle: &'static [u8],
    /// RAM set aside for stage-2 tables.
    pub frames: Range<HostPhysAddr>,
}

/// The parts of boot that need no heap: find the bundle, start the heap right after
/// it, copy the platform DTB.
pub fn early(dtb: usize) -> Result<Early, &'static str> {
    let bundle_at = core::ptr::addr_of!(__image_end) as u64;
    let bundle_bytes = bundle_slice(bundle_at)?;
    let heap_start = HostPhysAddr::new(bundle_at + bundle_bytes.len() as u64).align_up(4096).ok_or("heap")?;
    let frames = Range::new(HostPhysAddr::new(heap_start.as_u64() + HEAP_SIZE), FRAMES_SIZE).ok_or("frames")?;
    let ours = Range::new(heap_start, HEAP_SIZE + FRAMES_SIZE).ok_or("heap")?;
    let dtb = copy_dtb(dtb, &ours)?;
    Ok(Early { dtb, bundle: bundle_bytes, frames })
}

/// Everything up to running partitions; an error names what is wrong: for the config,
/// the same `<node>: <property>: <reason>` line `cargo bh check` prints.
pub fn boot(early: Early) -> Result<(Vec<&'static Part>, Vec<u64>), String> {
    let Early { dtb, bundle: bundle_bytes, frames } = early;
    let bundle: &'static Bundle<'static> =
        Box::leak(Box::new(Bundle::parse(bundle_bytes).map_err(|e| format!("bundle: {e}"))?));
    let tree = Tree::parse(dtb).map_err(|e| format!("platform DTB: {e}"))?;
    let config_dtb = bundle.config().ok_or("bundle has no config.dtb")?;
    let parsed = config::parse(config_dtb).map_err(|e| format!("config: {e}"))?;
    let platform = read_platform(&tree, &parsed).map_err(|e| format!("platform DTB: {e}"))?;
    let image_start = HostPhysAddr::new(core::ptr::addr_of!(__image_start) as u64);
    // The tables are built from the real pool below; `check` counted them already.
    let rules = config::Target { table_frames: None, ..target::target(image_start) };
    config::check_platform(&platform, &rules).map_err(|e| format!("platform DTB: {e}"))?;
    let config = config::validate_owned(parsed, &platform, &rules).map_err(|e| format!("config: {e}"))?;
    let entry = |name: &str| {
        bundle.get(name).filter(|_| name != CONFIG_ENTRY).ok_or_else(|| format!("{} is not in the bundle", Quoted(name)))
    };
    let placements = config::check_boot(&config, &rules, entry, bundle.size() as u64).map_err(|e| format!("config: {e}"))?;
    // `check_boot` proved the hypervisor's memory holds all of this.
    let ours = Range::new(image_start, frames.last().as_u64() + 1 - image_start.as_u64());
    debug_assert!(ours.is_some_and(|r| config.hypervisor.memory.contains_range(&r)));
    // No console in the config (its UART passed to a partition, say): stay silent.
    console::init(console_base(&config, &platform).unwrap_or(0) as usize);
    // SAFETY: built once, here, before any CPU (this one included) enables its MMU.
    unsafe {
        mmu::build(&platform.memory);
        mmu::enable();
    }
    // SAFETY: the frames region is inside the hypervisor's own RAM, after the heap,
    // and used by nothing else.
    unsafe { FRAMES.lock().add_range(frames) };
    let machine = machine(dtb, &tree, &platform, bundle)?;
    defmt::info!("bulkhead on {=str}: {=usize} partitions", super::board().name, config.partitions.len());
    let mut parts = Vec::new();
    for (id, placement) in placements.into_iter().enumerate() {
        let part: &'static Part = Box::leak(Box::new(setup::build(id, &config, &machine, placement)?));
        let (entry, arg) = part.load(false).map_err(|e| format!("{}: {e}", part.config.node))?;
        // A partition just built is in its created state: booting it cannot be refused.
        part.ctl.boot(entry, arg).map_err(|_| String::from("partition refused to boot"))?;
        parts.push(part);
    }
    report_footprint(heap_start(bundle_bytes) - image_start.as_u64());
    Ok((parts, cpu_slots(&platform)))
}

/// Where the heap starts: the first page after the bundle.
fn heap_start(bundle: &[u8]) -> u64 {
    (bundle.as_ptr() as u64 + bundle.len() as u64).next_multiple_of(4096)
}

/// Logs the RAM the hypervisor holds once every partition is built.
fn report_footprint(image_and_bundle: u64) {
    let heap = heap::in_use() as u64;
    let tables = FRAMES_SIZE - FRAMES.lock().free_frames() as u64 * 4096;
    defmt::info!(
        "ram: image+bundle {=u64} KiB, heap {=u64} KiB in use, stage-2 tables {=u64} KiB",
        image_and_bundle / 1024,
        heap / 1024,
        tables / 1024
    );
}

/// Copies the platform DTB to the heap, which it must not overlap, and starts the heap.
fn copy_dtb(at: usize, heap: &Range<HostPhysAddr>) -> Result<&'static [u8], &'static str> {
    if at == 0 {
        return Err("no platform device tree in x0");
    }
    // SAFETY: the boot loader passed a DTB address; only the 40-byte header is read
    // before its fields bound what else is read.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, 40) };
    let field = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]) as usize;
    if field(0) != 0xd00d_feed {
        return Err("no platform device tree in x0");
    }
    // Boot loaders pad the blob (QEMU to 1 MiB): copy only what the blocks use.
    let used = (field(8) + field(36)).max(field(12) + field(32)).min(field(4));
    if used > DTB_MAX {
        return Err("platform device tree larger than 1 MiB");
    }
    let blob = Range::new(HostPhysAddr::new(at as u64), used as u64).ok_or("bad DTB address")?;
    if blob.overlaps(heap) {
        return Err("the boot loader put the device tree where the hypervisor's heap goes");
    }
    // SAFETY: the heap lies right after the bundle, inside the hypervisor's RAM (checked
    // against the config in `boot` before anything else is placed there), unused, and
    // clear of the DTB.
    unsafe { heap::init(heap.start.as_u64() as usize, HEAP_SIZE as usize) };
    // Copied with the bulk copy (the generic one goes a byte at a time here); as words
    // so that the copy is word-aligned for the DT reader.
    let mut copy: Vec<u32> = Vec::with_capacity(used.div_ceil(4));
    // SAFETY: the source holds at least `used` bytes as its header says; the new
    // buffer holds at least `used` bytes and overlaps nothing. Every byte is then
    // initialised (the tail of the last word is zeroed first).
    let copy = unsafe {
        let dst = copy.as_mut_ptr();
        dst.add(used / 4).write_bytes(0, copy.capacity() - used / 4);
        super::mem::copy(dst.cast(), at as *const u8, used);
        copy.set_len(used.div_ceil(4));
        core::slice::from_raw_parts_mut(Vec::leak(copy).as_mut_ptr().cast::<u8>(), used)
    };
    copy[4..8].copy_from_slice(&(used as u32).to_be_bytes());
    Ok(copy)
}

fn bundle_slice(at: u64) -> Result<&'static [u8], &'static str> {
    // SAFETY: `cargo bh image` appends the bundle at `__image_end`; its 16-byte header is
    // read first and the total length taken from it.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, 16) };
    if &header[..8] != b"BHBUNDL1" {
        return Err("no bundle after the image: build it with `cargo bh image`");
    }
    let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
    // SAFETY: the boot loader loaded the whole image, bundle included (image_size).
    Ok(unsafe { core::slice::from_raw_parts(at as *const u8, len) })
}

fn console_base(config: &config::Config, platform: &Platform) -> Option<u64> {
    let path = config.hypervisor.console.as_deref()?;
    let dev = platform.devices.iter().find(|d| d.path == path)?;
    Some(dev.mmio.first()?.start.as_u64())
}

/// The platform as far as the hypervisor and `config` use it: the devices the config
/// names, the PL011 that virtual consoles are modelled on, and the interrupt
/// controllers. Reading the other devices would only cost boot time.
fn read_platform(tree: &Tree<'_>, config: &config::Config) -> Result<Platform, config::ConfigError> {
    let hv_console = config.hypervisor.console.iter().map(String::as_str);
    let devices = config.partitions.iter().flat_map(|p| p.devices.iter().map(|d| d.path.as_str()));
    let paths: Vec<&str> = hv_console.chain(devices).collect();
    Platform::from_tree(tree, Some(&DeviceFilter { paths: &paths, compatible: &["arm,pl011"] }))
}

fn machine<'a>(dtb: &'a [u8], tree: &'a Tree<'a>, platform: &'a Platform, bundle: &'a Bundle<'static>) -> Result<Machine<'a>, String> {
    // Validation ran the same function: the platform has what the build needs.
    let board = target::guest_board(platform).map_err(|e| format!("platform DTB: {e}"))?;
    let gic = platform.devices.iter().find(|d| d.compatible.iter().any(|c| c == "arm,gic-v3"));
    let gicr = gic.and_then(|g| g.mmio.get(1)).ok_or("platform DTB: no GICR")?;
    gic::init_distributor(board.gic.gicd.start.as_u64() as usize, gicr.start.as_u64() as usize);
    Ok(Machine { dtb, tree, bundle, board })
}

/// CPU slots: 0 is this (boot) CPU, then the others in platform order
/// (`check_platform` refused a platform with more than the build supports).
fn cpu_slots(platform: &Platform) -> Vec<u64> {
    let me = super::smp::my_affinity();
    let mut cpus = Vec::from([me]);
    cpus.extend(platform.cpus.iter().map(|c| c.id).filter(|&id| id != me));
    cpus
}

//! Config to isolation: random configs that validation accepts, built into each
//! partition's stage-2 tables (`partition_regions` through `map_regions`), must map
//! exactly what the config grants that partition, and partitions may reach the same
//! host frame only through a channel they both belong to.
//!
//! The expectation comes straight from the config and the platform (RAM regions RWX
//! Normal, the pages of the devices' platform MMIO RW Device at guest = host, channel
//! windows RW Normal), never from `partition_regions`, so a wrong plan shows up as a
//! difference between the two.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use proptest::collection::vec as vec_of;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestRunner};

use super::layout::{GIB, MIB2};
use super::partitions::{host_overlaps, host_ranges};
use super::Fixture;
use crate::addr::{Address, GuestPhysAddr as Gpa, HostPhysAddr as Hpa, Range, PAGE_SIZE};
use crate::config::{
    validate, Boot, Channel, Config, ConsoleKind, Device, HypervisorConfig, MemoryRegion,
    Partition, Platform, PlatformCpu, PlatformDevice, RestartPolicy, Target,
};
use crate::stage2::{
    grant_name, map_regions, partition_regions, DescriptorFormat, MemType, Perms, PhysMemory,
    Stage2,
};

/// Accepted configs [`config_isolation`] checks per format.
pub const CONFIG_CASES: u32 = 128;

/// Table frames one case may use, all partitions together: the generated configs take
/// under 50, and a small arena keeps each case cheap.
const FRAMES: usize = 256;

/// The platform's RAM: 3 GiB and 1 GiB side by side (two memory nodes that count as one
/// range, so a region may straddle them), and 2 GiB far above.
const RAM: [(u64, u64); 3] = [
    (0x4000_0000, 3 * GIB),
    (0x1_0000_0000, GIB),
    (0x8_0000_0000, 2 * GIB),
];

const PL011: &[&str] = &["arm,pl011", "arm,primecell"];
const VIRTIO: &[&str] = &["virtio,mmio"];

/// One platform device: path, compatible, MMIO `(start, size)`, interrupts, and whether
/// it is an interrupt controller (which the hypervisor keeps).
type DeviceRow = (
    &'static str,
    &'static [&'static str],
    &'static [(u64, u64)],
    &'static [u32],
    bool,
);

/// The devices of [`config_platform`]: the board's, then shapes the board lacks.
#[rustfmt::skip]
const DEVICES: &[DeviceRow] = &[
    ("/intc@8000000", &["arm,gic-v3"], &[(0x800_0000, 0x1_0000), (0x80a_0000, 0xf6_0000)], &[25], true),
    ("/intc@8000000/its@8080000", &["arm,gic-v3-its"], &[(0x808_0000, 0x2_0000)], &[], true),
    ("/pl011@9000000", PL011, &[(0x900_0000, 0x1000)], &[33], false),
    ("/pl031@9010000", &["arm,pl031", "arm,primecell"], &[(0x901_0000, 0x1000)], &[34], false),
    ("/fw-cfg@9020000", &["qemu,fw-cfg-mmio"], &[(0x902_0000, 0x18)], &[], false),
    // Four transports on one page (two partitions cannot split them), one alone.
    ("/virtio_mmio@a000000", VIRTIO, &[(0xa00_0000, 0x200)], &[48], false),
    ("/virtio_mmio@a000200", VIRTIO, &[(0xa00_0200, 0x200)], &[49], false),
    ("/virtio_mmio@a000400", VIRTIO, &[(0xa00_0400, 0x200)], &[50], false),
    ("/virtio_mmio@a000600", VIRTIO, &[(0xa00_0600, 0x200)], &[51], false),
    ("/virtio_mmio@a003e00", VIRTIO, &[(0xa00_3e00, 0x200)], &[79], false),
    // Not on the board: QEMU's flash banks (2 MiB device blocks), its secure UART, two
    // ranges with one straddling a page boundary, registers inside platform RAM, and a
    // 1 GiB MMIO window (a 1 GiB device block).
    ("/flash@0", &["cfi-flash"], &[(0, 0x400_0000), (0x400_0000, 0x400_0000)], &[], false),
    ("/pl011@9040000", PL011, &[(0x904_0000, 0x1000)], &[40], false),
    ("/regs@9050000", &["bulkhead,test-regs"], &[(0x905_0000, 0x800), (0x905_1800, 0x1000)], &[41, 42], false),
    ("/framebuffer@48000000", &["simple-framebuffer"], &[(0x4800_0000, 0x80_0000)], &[], false),
    ("/window@8000000000", &["bulkhead,test-window"], &[(0x80_0000_0000, GIB)], &[], false),
];

/// The hypervisor's own memory in every generated config (where the demo config keeps
/// it); partitions and channels are placed above it.
const HYPERVISOR: (u64, u64) = (0x4000_0000, 64 << 20);

/// Partition names, in config order.
const NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// Largest range whose guest side may be skewed against its host side (then mapped with
/// 4 KiB pages only, so kept small for speed).
const SKEW_MAX: u64 = 8 << 20;

/// A QEMU `virt`-like arm64 platform for [`config_isolation`]: the devices of
/// boards/qemu-virt-arm64/platform.dts (GICv3 and ITS, PL011, PL031, fw-cfg,
/// virtio-mmio transports sharing a page) plus shapes the board lacks (see `DEVICES`),
/// eight CPUs in two clusters, PSCI over SMC, and 6 GiB of RAM in three memory nodes so
/// that regions can be large and 1 GiB aligned.
pub fn config_platform() -> Platform {
    let device = |&(path, compatible, mmio, interrupts, controller): &DeviceRow| PlatformDevice {
        path: path.to_string(),
        compatible: compatible.iter().map(|c| c.to_string()).collect(),
        mmio: mmio
            .iter()
            .map(|&(start, size)| hpa_range(start, size))
            .collect(),
        interrupts: interrupts.to_vec(),
        ports: Vec::new(),
        dma: compatible
            .iter()
            .any(|&c| c == "virtio,mmio" || c == "qemu,fw-cfg-mmio"),
        interrupt_controller: controller,
        hypervisor_owned: false,
    };
    let cpu = |id: u64| PlatformCpu {
        id,
        node: format!("/cpus/cpu@{id:x}"),
    };
    Platform {
        memory: RAM
            .iter()
            .map(|&(start, size)| hpa_range(start, size))
            .collect(),
        cpus: [0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103].map(cpu).to_vec(),
        devices: DEVICES.iter().map(device).collect(),
        psci_method: Some("smc".into()),
    }
}

fn hpa_range(start: u64, size: u64) -> Range<Hpa> {
    Range {
        start: Hpa::new(start),
        size,
    }
}

/// A half-open span `[start, end)` of raw addresses.
type Span = (u64, u64);

fn bounds<A: Address>(range: &Range<A>) -> Span {
    (range.start.raw(), range.start.raw() + range.size)
}

/// The pages `range` touches.
fn pages(range: &Range<Hpa>) -> Span {
    let (start, end) = bounds(range);
    (start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE))
}

fn hex((start, end): Span) -> String {
    format!("{start:#x}..{end:#x}")
}

fn overlapping(spans: &[Span], start: u64, end: u64) -> Option<Span> {
    spans.iter().copied().find(|&(s, e)| s < end && start < e)
}

/// Sorted, with overlapping and adjacent spans merged.
fn merged(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::new();
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The smallest `g >= x` with `g % modulus == phase` (`modulus` a power of two).
fn next_at(x: u64, modulus: u64, phase: u64) -> u64 {
    let g = (x & !(modulus - 1)) + phase;
    if g < x {
        g + modulus
    } else {
        g
    }
}

// Generation: random draws (`Plan`), laid out into a mostly valid `Config` by `build`.

/// One memory region before placement.
#[derive(Clone, Debug)]
struct RegionPlan {
    /// Size class: 0..=3 up to 64 pages, 4..=6 up to 16 x 2 MiB (maybe plus pages),
    /// 7..=8 up to 256 MiB of 2 MiB, 9 a 1 GiB-aligned GiB (plus 2 MiB blocks).
    class: u8,
    count: u64,
    extra: u64,
    /// Free pages before it on the host side.
    gap: u64,
    /// Moved (guest != host) when 3 or 4 (of 5).
    moved: u8,
    /// Where a moved region is first tried (see [`guest_base`]).
    area: u8,
    /// Guest against host: 0 congruent modulo 1 GiB, 1 modulo 2 MiB, 2 skewed by
    /// `skew` pages (and a 2 MiB-class host side off 2 MiB by as much).
    fit: u8,
    skew: u64,
    jitter: u64,
}

/// One partition before placement.
#[derive(Clone, Debug)]
struct PartPlan {
    cpus: usize,
    regions: Vec<RegionPlan>,
    console: u8,
    load: bool,
    /// Keep moved regions beside a DMA-capable device (validation must refuse).
    defy_dma: bool,
}

/// One channel before placement.
#[derive(Clone, Debug)]
struct ChannelPlan {
    /// Members by bit (partition index); two neighbours when fewer than two bits hit.
    members: u8,
    rotate: u8,
    /// Size class: 0..=5 up to 16 pages, 6..=8 up to 4 x 2 MiB, 9 a GiB.
    class: u8,
    count: u64,
    gap: u64,
    /// Per member: area (see [`guest_base`]; 4 and up: at the host address), fit and
    /// skew as for regions.
    guests: Vec<(u8, u8, u64)>,
    doorbell: u8,
}

/// Everything random about one config.
#[derive(Clone, Debug)]
struct Plan {
    parts: Vec<PartPlan>,
    /// Per platform device that is no interrupt controller: 8 and up for the partition
    /// owning it (8 the first), none below or past the last partition (so that
    /// shrinking gives devices up).
    owners: Vec<u8>,
    channels: Vec<ChannelPlan>,
    cpus: Vec<u64>,
    hv_console: bool,
    /// Place RAM over owned devices that sit in platform RAM (validation must refuse).
    defy_devices: bool,
}

fn region_plan() -> impl Strategy<Value = RegionPlan> {
    let draws = (
        0u8..10,
        0u64..512,
        0u64..64,
        0u64..4,
        0u8..5,
        0u8..4,
        0u8..3,
        1u64..512,
    );
    (draws, any::<u64>()).prop_map(
        |((class, count, extra, gap, moved, area, fit, skew), jitter)| RegionPlan {
            class,
            count,
            extra,
            gap,
            moved,
            area,
            fit,
            skew,
            jitter,
        },
    )
}

fn part_plan() -> impl Strategy<Value = PartPlan> {
    let draws = (
        1usize..=2,
        vec_of(region_plan(), 1..=3),
        0u8..8,
        any::<bool>(),
        0u8..8,
    );
    draws.prop_map(|(cpus, regions, console, load, defy)| PartPlan {
        cpus,
        regions,
        console,
        load,
        defy_dma: defy == 7,
    })
}

fn channel_plan() -> impl Strategy<Value = ChannelPlan> {
    let guests = vec_of((0u8..7, 0u8..3, 1u64..512), 4);
    let draws = (
        any::<u8>(),
        any::<u8>(),
        0u8..10,
        0u64..64,
        0u64..4,
        guests,
        0u8..10,
    );
    draws.prop_map(
        |(members, rotate, class, count, gap, guests, doorbell)| ChannelPlan {
            members,
            rotate,
            class,
            count,
            gap,
            guests,
            doorbell,
        },
    )
}

fn plan(platform: &Platform) -> impl Strategy<Value = Plan> {
    let devices = platform
        .devices
        .iter()
        .filter(|d| !d.interrupt_controller)
        .count();
    let cpus: Vec<u64> = platform.cpus.iter().map(|c| c.id).collect();
    let parts = vec_of(part_plan(), 1..=4);
    let channels = vec_of(channel_plan(), 0..=3);
    let draws = (
        parts,
        vec_of(0u8..12, devices),
        channels,
        Just(cpus).prop_shuffle(),
    );
    (draws, any::<bool>(), 0u8..4).prop_map(
        |((parts, owners, channels, cpus), hv_console, defy)| Plan {
            parts,
            owners,
            channels,
            cpus,
            hv_console,
            defy_devices: defy == 3,
        },
    )
}

impl RegionPlan {
    /// Size, host alignment and host phase.
    fn host_shape(&self) -> (u64, u64, u64) {
        match self.class {
            0..=3 => ((self.count % 64 + 1) * PAGE_SIZE, PAGE_SIZE, 0),
            4..=6 => {
                let extra = self.extra.saturating_sub(31) * PAGE_SIZE;
                let phase = if self.fit == 2 {
                    self.skew * PAGE_SIZE % MIB2
                } else {
                    0
                };
                ((self.count % 16 + 1) * MIB2 + extra, MIB2, phase)
            }
            7 | 8 => ((self.count % 128 + 1) * MIB2, MIB2, 0),
            _ => (GIB + (self.count % 4) * MIB2, GIB, 0),
        }
    }
}

impl ChannelPlan {
    /// Size and host alignment.
    fn host_shape(&self) -> (u64, u64) {
        match self.class {
            0..=5 => ((self.count % 16 + 1) * PAGE_SIZE, PAGE_SIZE),
            6..=8 => ((self.count % 4 + 1) * MIB2, MIB2),
            _ => (GIB, GIB),
        }
    }
}

/// Hands out host RAM upwards through the platform's RAM ranges.
struct HostRam {
    /// Platform RAM, adjacent ranges merged.
    spans: Vec<Span>,
    /// Ranges not to hand out.
    avoid: Vec<Span>,
    cursor: u64,
}

impl HostRam {
    fn new(platform: &Platform, from: u64) -> Self {
        let spans = merged(platform.memory.iter().map(bounds).collect());
        Self {
            spans,
            avoid: Vec::new(),
            cursor: from,
        }
    }

    /// `size` bytes at `phase` past a multiple of `align`, at least `gap` pages above
    /// the last range handed out.
    fn take(&mut self, size: u64, align: u64, phase: u64, gap: u64) -> Option<u64> {
        let at = self.cursor + gap * PAGE_SIZE;
        for &(start, end) in &self.spans {
            let mut h = next_at(at.max(start), align, phase);
            while let Some((_, e)) = overlapping(&self.avoid, h, h + size) {
                h = next_at(e, align, phase);
            }
            if h + size <= end {
                self.cursor = h + size;
                return Some(h);
            }
        }
        None
    }
}

/// Where a moved range is first tried: low (0), in the host RAM range (over other
/// partitions' host addresses), high (over the 1 GiB device window), near the top of
/// the guest-physical space, or (4 and up) at its own host address.
fn guest_base(target: &Target, area: u8, jitter: u64, host: u64) -> u64 {
    match area {
        0 => 0,
        1 => 0x4000_0000 + (jitter % 4) * GIB,
        2 => 0x80_0000_0000,
        3 => target.ipa_limit().saturating_sub(4 * GIB),
        _ => host,
    }
}

/// The first guest address from `base` up with the `fit` asked for against `host` where
/// `size` bytes are clear of `taken`.
fn place_guest(taken: &[Span], base: u64, (fit, skew): (u8, u64), host: u64, size: u64) -> u64 {
    let (modulus, phase) = match fit {
        0 => (GIB, host % GIB),
        2 if size <= SKEW_MAX => (MIB2, (host + skew * PAGE_SIZE) % MIB2),
        _ => (MIB2, host % MIB2),
    };
    let mut g = next_at(base, modulus, phase);
    while let Some((_, end)) = overlapping(taken, g, g + size) {
        g = next_at(end, modulus, phase);
    }
    g
}

/// The partition's console for the draw `c`, given the UART it owns, if any.
fn console(
    c: u8,
    uart: Option<&PlatformDevice>,
    devices: &[&PlatformDevice],
) -> (ConsoleKind, bool) {
    match (uart, c) {
        (Some(u), 0..=2) => (ConsoleKind::Passthrough(u.path.clone()), true),
        (Some(_), 3 | 4) => (ConsoleKind::None, true),
        // Fine beside the second PL011; over the first it is the virtual console's window.
        (Some(_), 5 | 6) => (ConsoleKind::Virtual, true),
        // A UART and the console left to the default: refused.
        (Some(_), _) => (ConsoleKind::Virtual, false),
        (None, 0..=4) => (ConsoleKind::Virtual, false),
        (None, 5) => (ConsoleKind::Virtual, true),
        (None, 6) => (ConsoleKind::None, true),
        (None, _) => match devices.first() {
            Some(d) => (ConsoleKind::Passthrough(d.path.clone()), true),
            None => (ConsoleKind::Virtual, false),
        },
    }
}

/// What `build` works with while laying out one plan.
struct Layout<'a> {
    platform: &'a Platform,
    target: &'a Target,
    host: HostRam,
    /// Per partition laid out so far, the guest spans taken: the emulated windows, its
    /// device pages, RAM and channel windows.
    taken: Vec<Vec<Span>>,
}

impl Layout<'_> {
    /// Partition `NAMES[i]` on `cpus` with `devices`: host RAM handed out in order,
    /// moved regions placed clear of everything the partition sees already. `None` if
    /// its first region finds no RAM or the target refuses the platform.
    fn partition(
        &mut self,
        i: usize,
        cpus: Vec<u64>,
        pp: &PartPlan,
        devices: &[&PlatformDevice],
    ) -> Option<Partition> {
        let name = NAMES[i];
        let node = format!("/partitions/{name}");
        let uarts = self.target.uarts;
        let uart = devices
            .iter()
            .copied()
            .find(|d| d.compatible.iter().any(|c| uarts.contains(&c.as_str())));
        let (console, console_given) = console(pp.console, uart, devices);
        let device = |d: &&PlatformDevice| Device {
            path: d.path.clone(),
            mmio: Vec::new(),
            interrupts: Vec::new(),
            ports: Vec::new(),
            dma: false,
        };
        let mut p = Partition {
            name: name.into(),
            node: node.clone(),
            cpus,
            memory: Vec::new(),
            devices: devices.iter().map(device).collect(),
            boot: Boot {
                kernel: "kernel".into(),
                initrd: None,
                dtb: None,
                bootargs: None,
                load: None,
            },
            console,
            console_given,
            restart: RestartPolicy::Halt,
            bad_access: Default::default(),
        };
        let view = (self.target.guest)(self.platform, &p).ok()?;
        let mut taken: Vec<Span> = view.windows.iter().map(|w| bounds(&w.range)).collect();
        taken.extend(devices.iter().flat_map(|d| d.mmio.iter().map(pages)));
        let identity_only = devices.iter().any(|d| d.dma) && !pp.defy_dma;
        let mut placed = Vec::new();
        for (k, r) in pp.regions.iter().enumerate() {
            let (size, align, phase) = r.host_shape();
            match self.host.take(size, align, phase, r.gap) {
                Some(h) => placed.push((r, h, size, r.moved >= 3 && !identity_only)),
                None if k == 0 => return None,
                None => {}
            }
        }
        taken.extend(
            placed
                .iter()
                .filter(|r| !r.3)
                .map(|&(_, h, size, _)| (h, h + size)),
        );
        for &(r, h, size, moved) in &placed {
            let mut g = h;
            if moved {
                let base = guest_base(self.target, r.area, r.jitter, h);
                g = place_guest(&taken, base, (r.fit, r.skew), h, size);
                taken.push((g, g + size));
            }
            let guest = Range {
                start: Gpa::new(g),
                size,
            };
            p.memory.push(MemoryRegion {
                node: format!("{node}/memory@{g:x}"),
                guest,
                host: Hpa::new(h),
            });
        }
        if pp.load {
            p.boot.load = p.memory.first().map(|r| r.guest.start);
        }
        self.taken.push(taken);
        Some(p)
    }

    /// Channel `c` between two or more of the partitions laid out, or `None` if no RAM
    /// is left for it.
    fn channel(&mut self, c: usize, cp: &ChannelPlan) -> Option<Channel> {
        let n = self.taken.len();
        let mut members: Vec<usize> = (0..n).filter(|&i| cp.members >> i & 1 == 1).collect();
        if members.len() < 2 {
            let a = usize::from(cp.members) % n;
            members = vec![a, (a + 1) % n];
        }
        let turn = usize::from(cp.rotate) % members.len();
        members.rotate_left(turn);
        let (size, align) = cp.host_shape();
        let h = self.host.take(size, align, 0, cp.gap)?;
        let mut guest = Vec::new();
        for (&m, &(area, fit, skew)) in members.iter().zip(&cp.guests) {
            let base = guest_base(self.target, area, skew, h);
            let g = place_guest(&self.taken[m], base, (fit, skew), h, size);
            self.taken[m].push((g, g + size));
            guest.push(Gpa::new(g));
        }
        let doorbell = match cp.doorbell {
            0..=6 => self.target.doorbells.0 + 100 + c as u32,
            7 => self.target.doorbells.0 + 100,
            // The first PL011's line (and virtual console interrupt), a virtio line.
            8 => 33,
            _ => 48,
        };
        Some(Channel {
            name: format!("ch{c}"),
            node: format!("/channels/ch{c}"),
            partitions: members.iter().map(|&m| NAMES[m].to_string()).collect(),
            host: hpa_range(h, size),
            guest,
            doorbell,
        })
    }
}

/// Lays `plan` out into a config: host ranges handed out upwards without overlaps,
/// guest ranges clear of each partition's emulated windows, devices and other ranges.
/// Some draws break a rule on purpose for validation to refuse: devices on one page
/// given to two partitions, DMA beside moved RAM, a UART with the default console or
/// under the virtual one, clashing doorbells, RAM over a device that sits in RAM.
fn build(plan: &Plan, platform: &Platform, target: &Target) -> Option<Config> {
    let first_uart = platform
        .devices
        .iter()
        .find(|d| d.compatible.iter().any(|c| c == "arm,pl011"));
    let hv_console = first_uart
        .filter(|_| plan.hv_console)
        .map(|d| d.path.clone());
    let mut owned: Vec<Vec<&PlatformDevice>> = vec![Vec::new(); plan.parts.len()];
    let devices = platform.devices.iter().filter(|d| !d.interrupt_controller);
    for (d, &o) in devices.zip(&plan.owners) {
        match usize::from(o).checked_sub(8).and_then(|o| owned.get_mut(o)) {
            Some(mine) if hv_console.as_ref() != Some(&d.path) => mine.push(d),
            _ => {}
        }
    }
    let mut layout = Layout {
        platform,
        target,
        host: HostRam::new(platform, HYPERVISOR.0 + HYPERVISOR.1),
        taken: Vec::new(),
    };
    if !plan.defy_devices {
        let mmio = owned
            .iter()
            .flatten()
            .flat_map(|d| d.mmio.iter().map(pages));
        layout.host.avoid.extend(mmio);
    }
    let mut cpus = plan.cpus.iter().copied();
    let mut partitions = Vec::new();
    for (i, (pp, devices)) in plan.parts.iter().zip(&owned).enumerate() {
        let cpus = cpus.by_ref().take(pp.cpus).collect();
        partitions.push(layout.partition(i, cpus, pp, devices)?);
    }
    let channels = match partitions.len() {
        0 | 1 => Vec::new(),
        _ => plan
            .channels
            .iter()
            .enumerate()
            .filter_map(|(c, cp)| layout.channel(c, cp))
            .collect(),
    };
    let memory = hpa_range(HYPERVISOR.0, HYPERVISOR.1);
    let hypervisor = HypervisorConfig {
        memory,
        console: hv_console,
    };
    Some(Config {
        hypervisor,
        partitions,
        channels,
    })
}

/// A config validation accepted; its `Debug` is a compact listing for failure reports.
#[derive(Clone)]
struct Case(Config);

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Config {
            hypervisor: hv,
            partitions,
            channels,
        } = &self.0;
        writeln!(f)?;
        writeln!(
            f,
            "  hypervisor HPA:{} console {:?}",
            hex(bounds(&hv.memory)),
            hv.console
        )?;
        for p in partitions {
            let given = if p.console_given { "" } else { " (default)" };
            writeln!(
                f,
                "  partition {} cpus {:x?} console {:?}{given}",
                p.name, p.cpus, p.console
            )?;
            for r in &p.memory {
                writeln!(
                    f,
                    "    {}: GPA:{} at {}",
                    r.node,
                    hex(bounds(&r.guest)),
                    r.host
                )?;
            }
            for d in &p.devices {
                let mmio: Vec<String> = d.mmio.iter().map(|m| hex(bounds(m))).collect();
                writeln!(f, "    device {} MMIO {}", d.path, mmio.join(", "))?;
            }
        }
        for c in channels {
            let (host, doorbell) = (hex(bounds(&c.host)), c.doorbell);
            writeln!(
                f,
                "  {} {:?}: HPA:{host} at {:?}, doorbell {doorbell}",
                c.node, c.partitions, c.guest
            )?;
        }
        Ok(())
    }
}

// Checking: the expectation from the config, the tables as walked, and their difference.

/// `[gpa, gpa + size)` translating to `[hpa, hpa + size)` with these attributes, and
/// what grants it (for messages).
#[derive(Clone, Debug)]
struct Run {
    gpa: u64,
    hpa: u64,
    size: u64,
    perms: Perms,
    mem: MemType,
    what: String,
}

impl Run {
    fn new(gpa: u64, hpa: u64, size: u64, perms: Perms, mem: MemType, what: String) -> Self {
        Self {
            gpa,
            hpa,
            size,
            perms,
            mem,
            what,
        }
    }

    fn end(&self) -> u64 {
        self.gpa + self.size
    }

    /// The translation of `gpa` (inside the run).
    fn at(&self, gpa: u64) -> (u64, Perms, MemType) {
        (self.hpa + (gpa - self.gpa), self.perms, self.mem)
    }

    fn target(&self, gpa: u64) -> String {
        let (hpa, perms, mem) = self.at(gpa);
        format!("HPA:{hpa:#x} {perms:?} {mem:?}")
    }
}

/// What partition `id` may reach, from the config and the platform alone, sorted by
/// GPA; an error if the config grants a guest page twice (other than a page two of the
/// partition's own devices share).
fn granted(config: &Config, platform: &Platform, id: usize) -> Result<Vec<Run>, String> {
    let p = &config.partitions[id];
    let mut runs = Vec::new();
    for r in &p.memory {
        let (gpa, hpa, what) = (
            r.guest.start.as_u64(),
            r.host.as_u64(),
            format!("RAM {}", r.node),
        );
        runs.push(Run::new(
            gpa,
            hpa,
            r.guest.size,
            Perms::RWX,
            MemType::Normal,
            what,
        ));
    }
    for d in &p.devices {
        let device = platform
            .device(&d.path)
            .ok_or_else(|| format!("{} is not a platform device", d.path))?;
        for (start, end) in device.mmio.iter().map(pages) {
            let what = format!("device {}", d.path);
            runs.push(Run::new(
                start,
                start,
                end - start,
                Perms::RW,
                MemType::Device,
                what,
            ));
        }
    }
    for c in &config.channels {
        let Some(i) = c.partitions.iter().position(|n| *n == p.name) else {
            continue;
        };
        let gpa = c
            .guest
            .get(i)
            .ok_or_else(|| format!("{} has no address for {}", c.node, p.name))?;
        let (hpa, what) = (c.host.start.as_u64(), format!("channel {}", c.node));
        runs.push(Run::new(
            gpa.as_u64(),
            hpa,
            c.host.size,
            Perms::RW,
            MemType::Normal,
            what,
        ));
    }
    runs.sort_by_key(|r| r.gpa);
    let mut out: Vec<Run> = Vec::new();
    for r in runs {
        match out.last_mut() {
            Some(last) if r.gpa < last.end() => {
                let devices = r.mem == MemType::Device && last.mem == MemType::Device;
                if !devices || r.at(r.gpa) != last.at(r.gpa) {
                    let (name, gpa) = (&p.name, r.gpa);
                    return Err(format!(
                        "the config grants {name:?} GPA:{gpa:#x} twice: {} and {}",
                        last.what, r.what
                    ));
                }
                last.size = last.end().max(r.end()) - last.gpa;
                last.what = format!("{}, {}", last.what, r.what);
            }
            _ => out.push(r),
        }
    }
    Ok(out)
}

/// Leaf descriptors by size (1 GiB, 2 MiB, 4 KiB), and device leaves above 4 KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Leaves {
    by_size: [usize; 3],
    device_blocks: usize,
}

/// What `s2` maps, contiguous leaves merged, and its leaves counted.
fn mapped<F: DescriptorFormat, M: PhysMemory>(s2: &Stage2<'_, F, M>) -> (Vec<Run>, Leaves) {
    let mut runs: Vec<Run> = Vec::new();
    let mut leaves = Leaves::default();
    s2.for_each_mapping(|m| {
        leaves.by_size[match m.size {
            GIB => 0,
            MIB2 => 1,
            _ => 2,
        }] += 1;
        leaves.device_blocks += usize::from(m.attrs.mem == MemType::Device && m.size > PAGE_SIZE);
        let (gpa, hpa, perms, mem) = (m.gpa.as_u64(), m.hpa.as_u64(), m.attrs.perms, m.attrs.mem);
        match runs.last_mut() {
            Some(last) if last.end() == gpa && last.at(gpa) == (hpa, perms, mem) => {
                last.size += m.size
            }
            _ => runs.push(Run::new(gpa, hpa, m.size, perms, mem, String::new())),
        }
    });
    (runs, leaves)
}

/// Where `want` (the config) and `got` (the tables) disagree, a line per stretch of
/// guest-physical space; empty if they translate every page alike.
fn diff(want: &[Run], got: &[Run]) -> Vec<String> {
    let mut cuts: Vec<u64> = want
        .iter()
        .chain(got)
        .flat_map(|r| [r.gpa, r.end()])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let find = |runs: &'_ [Run], x: u64| -> Option<Run> {
        let i = runs.partition_point(|r| r.gpa <= x);
        i.checked_sub(1)
            .map(|i| runs[i].clone())
            .filter(|r| x < r.end())
    };
    let mut lines = Vec::new();
    for w in cuts.windows(2) {
        let (lo, gpa) = (w[0], hex((w[0], w[1])));
        match (find(want, lo), find(got, lo)) {
            (None, None) => {}
            (Some(a), Some(b)) if a.at(lo) == b.at(lo) => {}
            (Some(a), None) => lines.push(format!(
                "missing GPA:{gpa}: the config grants {} ({}), the tables map nothing",
                a.target(lo),
                a.what
            )),
            (None, Some(b)) => lines.push(format!(
                "extra   GPA:{gpa}: the tables map {}, the config grants nothing there",
                b.target(lo)
            )),
            (Some(a), Some(b)) => lines.push(format!(
                "wrong   GPA:{gpa}: the tables map {}, the config grants {} ({})",
                b.target(lo),
                a.target(lo),
                a.what
            )),
        }
    }
    lines
}

fn list(ranges: &[Range<Hpa>]) -> String {
    let ranges: Vec<String> = ranges
        .iter()
        .map(|r| format!("HPA:{}", hex(bounds(r))))
        .collect();
    format!("[{}]", ranges.join(", "))
}

/// The host ranges of the channels both `a` and `b` belong to, merged.
fn common_channels(config: &Config, a: &str, b: &str) -> Vec<Range<Hpa>> {
    let both = |c: &&Channel| {
        [a, b]
            .iter()
            .all(|name| c.partitions.iter().any(|n| n == name))
    };
    let spans = config
        .channels
        .iter()
        .filter(both)
        .map(|c| bounds(&c.host))
        .collect();
    merged(spans)
        .into_iter()
        .map(|(s, e)| hpa_range(s, e - s))
        .collect()
}

/// What one run of [`config_isolation`] covered.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConfigCoverage {
    /// Configs generated.
    pub generated: usize,
    /// Configs validation accepted: the cases checked.
    pub accepted: usize,
    /// Partitions checked.
    pub partitions: usize,
    /// Memory regions placed away from their host address.
    pub moved: usize,
    /// Passthrough devices.
    pub devices: usize,
    /// Channels.
    pub channels: usize,
    /// Leaf descriptors of 1 GiB, 2 MiB and 4 KiB.
    pub leaves: [usize; 3],
    /// Device-memory leaves larger than 4 KiB.
    pub device_blocks: usize,
    /// Most table frames one config's partitions took together.
    pub frames: usize,
}

impl fmt::Display for ConfigCoverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self.accepted * 100 / self.generated.max(1);
        let [giant, block, page] = self.leaves;
        write!(
            f,
            "{} of {} generated configs accepted ({rate}%): {} partitions, {} moved regions, \
             {} devices, {} channels; leaves: {giant} x 1 GiB, {block} x 2 MiB, {page} x 4 KiB \
             ({} device blocks); at most {} table frames a config",
            self.accepted,
            self.generated,
            self.partitions,
            self.moved,
            self.devices,
            self.channels,
            self.device_blocks,
            self.frames,
        )
    }
}

/// Checks one accepted config with `format`; adds what it covered to `cov`.
fn check_case<F: DescriptorFormat + Clone>(
    format: &F,
    platform: &Platform,
    target: &Target,
    config: &Config,
    cov: &RefCell<ConfigCoverage>,
) -> Result<(), String> {
    let fx = Fixture::new(FRAMES);
    let (mut tables, mut wants, mut leaves) = (Vec::new(), Vec::new(), Leaves::default());
    let hv = &config.hypervisor;
    // What no partition may reach: the hypervisor's memory, and the pages of its console
    // and of the interrupt controllers it keeps.
    let mut forbidden = vec![(String::from("the hypervisor's memory"), hv.memory)];
    for d in platform
        .devices
        .iter()
        .filter(|d| d.interrupt_controller || hv.console.as_ref() == Some(&d.path))
    {
        let what = || format!("{} (the hypervisor's)", d.path);
        forbidden.extend(
            d.mmio
                .iter()
                .map(pages)
                .map(|(s, e)| (what(), hpa_range(s, e - s))),
        );
    }
    for (id, p) in config.partitions.iter().enumerate() {
        let who = format!("partition {:?}", p.name);
        let want = granted(config, platform, id)?;
        let mut s2 = fx.stage2(format.clone());
        map_regions(&mut s2, &partition_regions(config, id)).map_err(|(r, e)| {
            let g = hex((r.gpa.as_u64(), r.gpa.as_u64() + r.size));
            format!(
                "{who}: map_regions refused {} GPA:{g} -> {}: {e}",
                grant_name(r.grant),
                r.hpa
            )
        })?;
        let (got, counted) = mapped(&s2);
        let lines = diff(&want, &got);
        if !lines.is_empty() {
            let mut msg =
                format!("{who}: its stage-2 tables differ from what the config grants it:");
            lines
                .iter()
                .take(8)
                .for_each(|line| msg += &format!("\n    {line}"));
            if lines.len() > 8 {
                msg += &format!("\n    ... and {} more", lines.len() - 8);
            }
            return Err(msg);
        }
        let view = (target.guest)(platform, p).map_err(|e| format!("{who}: {e}"))?;
        for w in &view.windows {
            let (s, e) = bounds(&w.range);
            if let Some(r) = got.iter().find(|r| r.gpa < e && s < r.end()) {
                let (mapped, window) = (hex((r.gpa, r.end())), hex((s, e)));
                return Err(format!(
                    "{who}: the tables map GPA:{mapped} over {} (GPA:{window})",
                    w.what
                ));
            }
        }
        for h in host_ranges(&s2) {
            if let Some((what, f)) = forbidden.iter().find(|(_, f)| f.overlaps(&h)) {
                let (h, f) = (hex(bounds(&h)), hex(bounds(f)));
                return Err(format!(
                    "{who} reaches {what}: it maps HPA:{h}, which overlaps HPA:{f}"
                ));
            }
        }
        leaves
            .by_size
            .iter_mut()
            .zip(counted.by_size)
            .for_each(|(a, b)| *a += b);
        leaves.device_blocks += counted.device_blocks;
        tables.push(s2);
        wants.push(want);
    }
    let names: Vec<&str> = config.partitions.iter().map(|p| p.name.as_str()).collect();
    for a in 0..tables.len() {
        for b in a + 1..tables.len() {
            let (shared, want) = (
                host_overlaps(&tables[a], &tables[b]),
                common_channels(config, names[a], names[b]),
            );
            if shared != want {
                let (shared, want) = (list(&shared), list(&want));
                let (a, b) = (names[a], names[b]);
                return Err(format!(
                    "{a:?} and {b:?} both reach {shared}, but their common channels hold {want}"
                ));
            }
        }
    }
    // The check itself can fail: a page of beta's RAM also mapped into alpha must show
    // as an extra translation and as a shared host frame.
    let stolen = config
        .partitions
        .get(1)
        .and_then(|beta| beta.memory.first())
        .map(|r| r.host);
    if let (Some(stolen), [alpha, beta, ..]) = (stolen, &mut tables[..]) {
        let spare = Gpa::new((1u64 << format.ipa_bits()) - PAGE_SIZE);
        if alpha.translate(spare).is_none() {
            alpha
                .map(spare, stolen, PAGE_SIZE, Perms::RW, MemType::Normal)
                .map_err(|e| format!("tamper: {e}"))?;
            let extra = !diff(&wants[0], &mapped(alpha).0).is_empty();
            let shared = host_overlaps(alpha, beta)
                .iter()
                .any(|r| r.contains(stolen));
            if !(extra && shared) {
                return Err(format!(
                    "{stolen} of beta's RAM mapped into alpha went unnoticed"
                ));
            }
        }
    }
    let mut cov = cov.borrow_mut();
    cov.accepted += 1;
    cov.partitions += config.partitions.len();
    cov.moved += config
        .partitions
        .iter()
        .flat_map(|p| &p.memory)
        .filter(|r| !r.is_identity())
        .count();
    cov.devices += config
        .partitions
        .iter()
        .map(|p| p.devices.len())
        .sum::<usize>();
    cov.channels += config.channels.len();
    cov.leaves
        .iter_mut()
        .zip(leaves.by_size)
        .for_each(|(a, b)| *a += b);
    cov.device_blocks += leaves.device_blocks;
    cov.frames = cov.frames.max(FRAMES - fx.free_frames());
    Ok(())
}

/// For random configs that `validate` accepts on `platform` for `target`, each
/// partition's tables in `format` (built with `map_regions` over `partition_regions` on
/// a host arena) translate exactly the guest pages the config grants it, to the host
/// pages it names, with its permissions and memory type; none maps over the windows the
/// target emulates or reaches the hypervisor's memory, console or interrupt
/// controllers; and two partitions reach the same host frame only inside a channel both
/// belong to. Checks [`CONFIG_CASES`] accepted configs and returns what they covered.
///
/// `platform` is normally [`config_platform`]; `target` must have `format`'s address
/// widths.
///
/// # Panics
///
/// With the shrunk failing config and what differs; or if the run covered too little
/// (under 30 % of generated configs accepted, no moved region, device or channel, or
/// no 2 MiB, 1 GiB or device block where the format has them).
pub fn config_isolation<F: DescriptorFormat + Clone + fmt::Debug>(
    format: &F,
    platform: &Platform,
    target: &Target,
) -> ConfigCoverage {
    let generated = RefCell::new(0usize);
    let accepted = plan(platform).prop_filter_map("validation refused the config", |plan| {
        *generated.borrow_mut() += 1;
        let config = build(&plan, platform, target)?;
        validate(&config, platform, target).ok().map(Case)
    });
    let coverage = RefCell::new(ConfigCoverage::default());
    let mut runner = TestRunner::new(Cases {
        failure_persistence: None,
        ..Cases::with_cases(CONFIG_CASES)
    });
    let result = runner.run(&accepted, |Case(config)| {
        check_case(format, platform, target, &config, &coverage).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("conformance check `config_isolation` failed with {format:?}: {e}");
    }
    let cov = ConfigCoverage {
        generated: generated.into_inner(),
        ..coverage.into_inner()
    };
    assert!(
        cov.accepted * 10 >= cov.generated * 3,
        "too few configs accepted: {cov}"
    );
    let blocks = |level: u8, n: usize| !format.leaf_allowed(level) || n > 0;
    let leaves =
        blocks(1, cov.leaves[0]) && blocks(2, cov.leaves[1]) && blocks(2, cov.device_blocks);
    let shapes = cov.moved > 0 && cov.devices > 0 && cov.channels > 0;
    assert!(
        leaves && shapes,
        "the generated configs covered too little: {cov}"
    );
    cov
}

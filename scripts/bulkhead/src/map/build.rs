//! The [`Map`] of a checked config: who holds each piece of the machine.

use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, IoPort, Range};
use bulkhead_core::config::{self as core_config, ConsoleKind, Placement, Platform, RestartPolicy};

use super::{
    Boot, Channel, Cpu, Device, Hypervisor, Image, Interrupt, Load, Map, Partition, RamSpan,
    Region, Span, SCHEMA,
};
use crate::board::Board;
use crate::cmd::check::Checked;
use crate::repo;
use crate::source::{self, SourceMap};

/// The map of `checked` on `board`.
pub fn build(board: &Board, checked: &Checked) -> Map {
    let config = &checked.config;
    let notation = Notation::of(&checked.platform);
    let partitions: Vec<Partition> = config
        .partitions
        .iter()
        .enumerate()
        .map(|(id, p)| partition(id, p, checked.placements.get(id), checked.lines.as_ref()))
        .collect();
    Map {
        schema: SCHEMA,
        board: board.name.clone(),
        arch: board.arch.clone(),
        config: repo::show(&checked.config_file),
        interrupts: notation.name(),
        hypervisor: Hypervisor {
            memory: host(&config.hypervisor.memory),
            console: config.hypervisor.console.clone(),
        },
        ram: ram(config, &checked.platform),
        cpus: cpus(&checked.platform, &partitions),
        devices: devices(config, &checked.platform, notation),
        images: images(checked, &partitions),
        channels: config
            .channels
            .iter()
            .map(|c| channel(c, notation))
            .collect(),
        partitions,
    }
}

/// How a board's device tree writes interrupt numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notation {
    /// Arm GIC: `<type number flags>`, type 0 SPI, 1 PPI, 2 ESPI, 3 EPPI.
    Gic,
    /// x86 I/O APIC inputs.
    Gsi,
    /// The number as it is.
    Plain,
}

/// The `compatible`s of the GIC bindings the platform reader decodes.
const GICS: &[&str] = &[
    "arm,gic-v3",
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
];

impl Notation {
    /// The notation of `platform`'s interrupt controller.
    pub fn of(platform: &Platform) -> Self {
        let has = |names: &[&str]| {
            platform
                .devices
                .iter()
                .any(|d| d.compatible.iter().any(|c| names.contains(&c.as_str())))
        };
        if has(GICS) {
            Self::Gic
        } else if has(&["intel,ioapic"]) {
            Self::Gsi
        } else {
            Self::Plain
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gic => "gic",
            Self::Gsi => "gsi",
            Self::Plain => "plain",
        }
    }

    /// `id` as the board's device tree writes it.
    pub fn interrupt(self, id: u32) -> Interrupt {
        let name = match self {
            Self::Gic => match id {
                0..=15 => format!("SGI {id}"),
                16..=31 => format!("PPI {} (INTID {id})", id - 16),
                32..=1019 => format!("SPI {} (INTID {id})", id - 32),
                1056..=1119 => format!("EPPI {} (INTID {id})", id - 1056),
                4096..=5119 => format!("ESPI {} (INTID {id})", id - 4096),
                _ => format!("INTID {id}"),
            },
            Self::Gsi => format!("GSI {id}"),
            Self::Plain => format!("IRQ {id}"),
        };
        Interrupt { id, name }
    }
}

fn host(range: &Range<HostPhysAddr>) -> Span {
    Span::new(range.start.as_u64(), range.size)
}

fn guest(range: &Range<GuestPhysAddr>) -> Span {
    Span::new(range.start.as_u64(), range.size)
}

fn ports(range: &Range<IoPort>) -> Span {
    Span::new(range.start.as_u64(), range.size)
}

/// Host RAM by address: every claim, and the free platform RAM between them.
fn ram(config: &core_config::Config, platform: &Platform) -> Vec<RamSpan> {
    let claim =
        |span: Span, kind, owner: Option<&str>, node: Option<&str>, guest: Option<u64>| RamSpan {
            span,
            kind,
            owner: owner.map(String::from),
            node: node.map(String::from),
            guest,
        };
    let mut rows = vec![claim(
        host(&config.hypervisor.memory),
        "hypervisor",
        None,
        Some("/hypervisor"),
        None,
    )];
    for p in &config.partitions {
        for r in &p.memory {
            let span = host(&r.host_range());
            rows.push(claim(
                span,
                "partition",
                Some(&p.name),
                Some(&r.node),
                Some(r.guest.start.as_u64()),
            ));
        }
    }
    for c in &config.channels {
        rows.push(claim(
            host(&c.host),
            "channel",
            Some(&c.name),
            Some(&c.node),
            None,
        ));
    }
    let used: Vec<Span> = rows.iter().map(|r| r.span).collect();
    for free in free_spans(&platform.memory.iter().map(host).collect::<Vec<_>>(), &used) {
        rows.push(claim(free, "free", None, None, None));
    }
    rows.sort_by_key(|r| (r.span.start, r.span.end));
    rows
}

/// `ram` (merged where adjacent) less every span of `used`.
fn free_spans(ram: &[Span], used: &[Span]) -> Vec<Span> {
    let mut ram = ram.to_vec();
    ram.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::new();
    for span in ram {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => {
                *last = Span::new(last.start, last.end.max(span.end) - last.start)
            }
            _ => merged.push(span),
        }
    }
    let mut used = used.to_vec();
    used.sort_by_key(|s| s.start);
    let mut free = Vec::new();
    for span in merged {
        let mut at = span.start;
        for u in used
            .iter()
            .filter(|u| u.start < span.end && u.end > span.start)
        {
            if u.start > at {
                free.push(Span::new(at, u.start - at));
            }
            at = at.max(u.end);
        }
        if at < span.end {
            free.push(Span::new(at, span.end - at));
        }
    }
    free
}

/// A CPU id as a config would write it: small ids in decimal, MPIDR-like ones in hex.
pub fn cpu_name(id: u64) -> String {
    if id < 0x100 {
        id.to_string()
    } else {
        format!("{id:#x}")
    }
}

/// One cell of DTS source as a number (`2`, `0x100`, `010`, `2U`).
fn dts_number(text: &str) -> Option<u64> {
    let text = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

/// The partition's CPU ids as its config writes them, when the source says so plainly.
fn written_cpus(p: &core_config::Partition, lines: Option<&SourceMap>) -> Vec<String> {
    let written = lines
        .and_then(|l| l.text(&p.node, "cpus"))
        .and_then(|t| source::cells(&t));
    match written {
        Some(cells)
            if cells.len() == p.cpus.len()
                && cells
                    .iter()
                    .zip(&p.cpus)
                    .all(|(c, &id)| dts_number(c) == Some(id)) =>
        {
            cells
        }
        _ => p.cpus.iter().map(|&id| cpu_name(id)).collect(),
    }
}

fn partition(
    id: usize,
    p: &core_config::Partition,
    place: Option<&Placement>,
    lines: Option<&SourceMap>,
) -> Partition {
    let names = written_cpus(p, lines);
    let cpus = p
        .cpus
        .iter()
        .zip(names)
        .enumerate()
        .map(|(vcpu, (&id, name))| Cpu {
            id,
            name,
            owner: Some(p.name.clone()),
            vcpu: Some(vcpu),
        })
        .collect();
    let memory = p
        .memory
        .iter()
        .map(|r| Region {
            node: r.node.clone(),
            guest: guest(&r.guest),
            host: r.host.as_u64(),
            identity: r.is_identity(),
        })
        .collect();
    let boot = Boot {
        kernel: p.boot.kernel.clone(),
        initrd: p.boot.initrd.clone(),
        dtb: p.boot.dtb.clone(),
        bootargs: p.boot.bootargs.clone(),
        load_address: p.boot.load.map(|a| a.as_u64()),
        entry: place.map(|pl| pl.entry.as_u64()),
        boot_info: place.map(|pl| Span::new(pl.info.as_u64(), pl.info_max)),
    };
    Partition {
        id,
        name: p.name.clone(),
        node: p.node.clone(),
        cpus,
        memory,
        devices: p.devices.iter().map(|d| d.path.clone()).collect(),
        boot,
        console: match &p.console {
            ConsoleKind::Virtual => "virtual".into(),
            ConsoleKind::None => "none".into(),
            ConsoleKind::Passthrough(path) => path.clone(),
        },
        restart: match p.restart {
            RestartPolicy::Halt => "halt",
            RestartPolicy::Restart => "restart",
        },
    }
}

/// Every platform CPU, with the partition and vCPU on it.
fn cpus(platform: &Platform, partitions: &[Partition]) -> Vec<Cpu> {
    let mut cpus: Vec<Cpu> = platform
        .cpus
        .iter()
        .map(|c| {
            let owned = partitions
                .iter()
                .flat_map(|p| &p.cpus)
                .find(|o| o.id == c.id);
            owned.cloned().unwrap_or(Cpu {
                id: c.id,
                name: cpu_name(c.id),
                owner: None,
                vcpu: None,
            })
        })
        .collect();
    cpus.sort_by_key(|c| c.id);
    cpus
}

/// Every platform device, with its owner.
fn devices(config: &core_config::Config, platform: &Platform, notation: Notation) -> Vec<Device> {
    platform
        .devices
        .iter()
        .map(|d| {
            let partition = config
                .partitions
                .iter()
                .find(|p| p.devices.iter().any(|o| o.path == d.path));
            let (owner, role) = if config.hypervisor.console.as_deref() == Some(d.path.as_str()) {
                (Some("hypervisor".to_string()), Some("console"))
            } else if d.interrupt_controller {
                (Some("hypervisor".to_string()), Some("interrupt controller"))
            } else if d.hypervisor_owned {
                (Some("hypervisor".to_string()), Some("kept"))
            } else if let Some(p) = partition {
                (Some(p.name.clone()), Some("passthrough"))
            } else {
                (None, None)
            };
            Device {
                path: d.path.clone(),
                compatible: d.compatible.clone(),
                owner,
                role,
                mmio: d.mmio.iter().map(host).collect(),
                ports: d.ports.iter().map(ports).collect(),
                interrupts: d
                    .interrupts
                    .iter()
                    .map(|&id| notation.interrupt(id))
                    .collect(),
                dma: d.dma,
            }
        })
        .collect()
}

/// Every image with its size and, per partition naming it, where it lands.
fn images(checked: &Checked, partitions: &[Partition]) -> Vec<Image> {
    checked
        .images
        .iter()
        .zip(&checked.image_sizes)
        .map(|(image, &size)| {
            let mut loads = Vec::new();
            for ((p, place), row) in checked
                .config
                .partitions
                .iter()
                .zip(&checked.placements)
                .zip(partitions)
            {
                let boot = &p.boot;
                let at = [
                    ("kernel", Some(&boot.kernel), Some(place.kernel)),
                    ("initrd", boot.initrd.as_ref(), place.initrd),
                    ("dtb", boot.dtb.as_ref(), Some(place.info)),
                ];
                for (what, name, gpa) in at {
                    let (Some(name), Some(gpa)) = (name, gpa) else {
                        continue;
                    };
                    if *name != image.name {
                        continue;
                    }
                    let host = p.host_of(gpa, 1).map(|h| h.as_u64());
                    loads.push(Load {
                        partition: row.name.clone(),
                        r#as: what,
                        guest: gpa.as_u64(),
                        host,
                    });
                }
            }
            Image {
                name: image.name.clone(),
                path: repo::show(image.path()),
                size,
                test_guest: image.is_guest(),
                loads,
            }
        })
        .collect()
}

fn channel(c: &core_config::Channel, notation: Notation) -> Channel {
    Channel {
        name: c.name.clone(),
        node: c.node.clone(),
        partitions: c.partitions.clone(),
        host: host(&c.host),
        guest: c.guest.iter().map(|g| g.as_u64()).collect(),
        doorbell: notation.interrupt(c.doorbell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupts_read_as_the_dts_writes_them() {
        assert_eq!(Notation::Gic.interrupt(79).name, "SPI 47 (INTID 79)");
        assert_eq!(Notation::Gic.interrupt(27).name, "PPI 11 (INTID 27)");
        assert_eq!(Notation::Gic.interrupt(4100).name, "ESPI 4 (INTID 4100)");
        assert_eq!(Notation::Gsi.interrupt(4).name, "GSI 4");
    }

    #[test]
    fn free_ram_is_what_nobody_claims() {
        let ram = [
            Span::new(0x4000_0000, 0x1000_0000),
            Span::new(0x5000_0000, 0x1000_0000),
        ];
        let used = [
            Span::new(0x4000_0000, 0x100_0000),
            Span::new(0x5000_0000, 0x100_0000),
        ];
        assert_eq!(
            free_spans(&ram, &used),
            [
                Span::new(0x4100_0000, 0xf00_0000),
                Span::new(0x5100_0000, 0xf00_0000)
            ]
        );
        assert_eq!(free_spans(&ram, &[Span::new(0x4000_0000, 0x2000_0000)]), []);
    }

    #[test]
    fn cpu_ids_keep_the_configs_spelling() {
        assert_eq!(dts_number("0x100"), Some(256));
        assert_eq!(dts_number("2U"), Some(2));
        assert_eq!(dts_number("010"), Some(8));
        assert_eq!(cpu_name(3), "3");
        assert_eq!(cpu_name(0x100), "0x100");
    }
}

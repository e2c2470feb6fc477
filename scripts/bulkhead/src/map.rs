//! The partition map `cargo bh check` prints: one small table per partition.

use std::fmt::Write;

use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, Range};
use bulkhead_core::config::{
    Channel, Config, ConsoleKind, Device, MemoryRegion, Partition, Placement, RestartPolicy,
};

use crate::images::Image;

/// Renders `config` (validated) with its resolved `images` and, when known, where each
/// partition's images go (`placements`, partition order) as text.
pub fn render(config: &Config, images: &[Image], placements: &[Placement]) -> String {
    let mut out = String::new();
    let hv = &config.hypervisor;
    let mut table = Table::new("hypervisor");
    table.row(
        "memory",
        format!("{}  {}", hpa(&hv.memory), size(hv.memory.size)),
    );
    table.row(
        "console",
        hv.console.clone().unwrap_or_else(|| "none".into()),
    );
    table.write(&mut out);
    for (id, partition) in config.partitions.iter().enumerate() {
        partition_table(id, partition, images, placements.get(id)).write(&mut out);
    }
    let mut table = Table::new("channels");
    for channel in &config.channels {
        table.row(&channel.name, channel_line(channel));
    }
    if config.channels.is_empty() {
        table.row("none", String::new());
    }
    table.write(&mut out);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn channel_line(channel: &Channel) -> String {
    let seen: Vec<String> = channel.guest.iter().map(ToString::to_string).collect();
    format!(
        "{}  {}  {}  seen at {}  doorbell {}",
        channel.partitions.join(" <-> "),
        hpa(&channel.host),
        size(channel.host.size),
        seen.join(", "),
        channel.doorbell
    )
}

fn partition_table(id: usize, p: &Partition, images: &[Image], place: Option<&Placement>) -> Table {
    let mut table = Table::new(&format!("partition {id}: {}", p.name));
    let cpus: Vec<String> = p
        .cpus
        .iter()
        .enumerate()
        .map(|(v, c)| format!("{v}→{c:#x}"))
        .collect();
    table.row("vCPU→pCPU", cpus.join("  "));
    for region in &p.memory {
        table.row("memory", memory(region));
    }
    for device in &p.devices {
        table.row("devices", device_line(device));
    }
    if p.devices.is_empty() {
        table.row("devices", "none (no passthrough)".into());
    }
    table.row("kernel", image_line(&p.boot.kernel, images));
    if let Some(initrd) = &p.boot.initrd {
        table.row("initrd", image_line(initrd, images));
    }
    if let Some(dtb) = &p.boot.dtb {
        table.row("dtb", image_line(dtb, images));
    }
    if let Some(load) = p.boot.load {
        table.row("load", load.to_string());
    }
    if let Some(place) = place {
        let mut line = format!("kernel {}  entry {}  boot info {}", place.kernel, place.entry, place.info);
        if let Some(initrd) = place.initrd {
            let _ = write!(line, "  initrd {initrd}");
        }
        table.row("placed", line);
    }
    if let Some(args) = &p.boot.bootargs {
        table.row("bootargs", format!("\"{args}\""));
    }
    table.row("console", console(&p.console));
    table.row("restart", restart(p.restart).into());
    table
}

fn memory(region: &MemoryRegion) -> String {
    let placement = if region.is_identity() {
        "identity"
    } else {
        "moved"
    };
    format!(
        "{} → {}  {}  ({placement})",
        gpa(&region.guest),
        region.host,
        size(region.guest.size)
    )
}

fn device_line(device: &Device) -> String {
    let mut line = device.path.clone();
    for mmio in &device.mmio {
        let _ = write!(line, "  MMIO {}", hpa(mmio));
    }
    for ports in &device.ports {
        let _ = write!(line, "  ports {}..{:#x}", ports.start, ports.start.as_u64() + ports.size);
    }
    if !device.interrupts.is_empty() {
        let irqs: Vec<String> = device.interrupts.iter().map(u32::to_string).collect();
        let _ = write!(line, "  IRQ {}", irqs.join(","));
    }
    if device.dma {
        line.push_str("  DMA");
    }
    line
}

fn image_line(name: &str, images: &[Image]) -> String {
    match images.iter().find(|i| i.name == name) {
        Some(image) if image.is_guest() => format!("{name} (in-tree test guest)"),
        _ => name.to_string(),
    }
}

fn console(kind: &ConsoleKind) -> String {
    match kind {
        ConsoleKind::Virtual => "virtual (lines prefixed with the partition name)".into(),
        ConsoleKind::Passthrough(path) => format!("passthrough {path}"),
        ConsoleKind::None => "none".into(),
    }
}

fn restart(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Halt => "halt",
        RestartPolicy::Restart => "restart",
    }
}

/// `HPA:0x…..HPA:0x…`, end exclusive, as config errors print ranges.
fn hpa(range: &Range<HostPhysAddr>) -> String {
    format!(
        "{}..HPA:{:#x}",
        range.start,
        end(range.start.as_u64(), range.size)
    )
}

/// `GPA:0x…..GPA:0x…`, end exclusive.
fn gpa(range: &Range<GuestPhysAddr>) -> String {
    format!(
        "{}..GPA:{:#x}",
        range.start,
        end(range.start.as_u64(), range.size)
    )
}

fn end(start: u64, size: u64) -> u128 {
    u128::from(start) + u128::from(size)
}

/// A size in the largest unit that divides it: `256 MiB`, `4 KiB`, `100 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes & (unit - 1) == 0)
        .map(|(unit, name)| format!("{} {name}", bytes / unit))
        .unwrap_or_else(|| format!("{bytes} B"))
}

/// A titled two-column table; repeated keys print once.
struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, key: &str, value: String) {
        self.rows.push((key.to_string(), value));
    }

    fn write(&self, out: &mut String) {
        let width = self
            .rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "{}", self.title);
        let mut last = "";
        for (key, value) in &self.rows {
            let shown = if key == last { "" } else { key.as_str() };
            let pad = width - shown.chars().count();
            let line = format!("  {shown}{:pad$}  {value}", "");
            let _ = writeln!(out, "{}", line.trim_end());
            last = key;
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_core::config::{Boot, HypervisorConfig};

    fn sample() -> Config {
        let hv_mem = Range::<HostPhysAddr>::new(HostPhysAddr::new(0x4000_0000), 32 << 20).unwrap();
        let region = MemoryRegion {
            node: "/partitions/hello/memory@50000000".into(),
            guest: Range::<GuestPhysAddr>::new(GuestPhysAddr::new(0x5000_0000), 64 << 20).unwrap(),
            host: HostPhysAddr::new(0x5000_0000),
        };
        let uart = Device {
            path: "/pl011@9000000".into(),
            mmio: vec![Range::<HostPhysAddr>::new(HostPhysAddr::new(0x900_0000), 0x1000).unwrap()],
            interrupts: vec![33],
            ports: vec![],
            dma: false,
        };
        let boot = Boot {
            kernel: "hello".into(),
            initrd: None,
            dtb: None,
            bootargs: None,
            load: None,
        };
        let hello = Partition {
            name: "hello".into(),
            node: "/partitions/hello".into(),
            cpus: vec![0, 1],
            memory: vec![region],
            devices: vec![uart],
            boot,
            console: ConsoleKind::Virtual,
            console_given: false,
            restart: RestartPolicy::Restart,
        };
        let channel = Channel {
            name: "ping".into(),
            node: "/channels/ping".into(),
            partitions: vec!["hello".into(), "other".into()],
            host: Range::<HostPhysAddr>::new(HostPhysAddr::new(0x7000_0000), 0x1000).unwrap(),
            guest: vec![
                GuestPhysAddr::new(0x6000_0000),
                GuestPhysAddr::new(0x6000_0000),
            ],
            doorbell: 40,
        };
        let hypervisor = HypervisorConfig {
            memory: hv_mem,
            console: Some("/pl011@9000000".into()),
        };
        Config {
            hypervisor,
            partitions: vec![hello],
            channels: vec![channel],
        }
    }

    #[test]
    fn map_shows_every_resource() {
        let text = render(&sample(), &[], &[]);
        for expected in [
            "hypervisor\n  memory   HPA:0x40000000..HPA:0x42000000  32 MiB\n",
            "partition 0: hello\n",
            "vCPU→pCPU  0→0x0  1→0x1\n",
            "GPA:0x50000000..GPA:0x54000000 → HPA:0x50000000  64 MiB  (identity)",
            "/pl011@9000000  MMIO HPA:0x9000000..HPA:0x9001000  IRQ 33\n",
            "restart    restart\n",
            "ping  hello <-> other  HPA:0x70000000..HPA:0x70001000  4 KiB",
            "doorbell 40",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn sizes_use_the_largest_exact_unit() {
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(1536 << 10), "1536 KiB");
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(100), "100 B");
    }
}

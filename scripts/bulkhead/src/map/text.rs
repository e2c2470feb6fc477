//! The map as text: the machine-wide tables, then one small table per partition.

use std::fmt::Write;

use super::{approx_size, size, Channel, Device, Map, Partition, Span};

/// The map as text for people.
pub fn text(map: &Map) -> String {
    let mut out = String::new();
    ram(map).write(&mut out);
    cpus(map).write(&mut out);
    devices(map, false).write(&mut out);
    devices(map, true).write(&mut out);
    images(map).write(&mut out);
    let mut hv = Table::new("hypervisor");
    hv.row(
        "memory",
        format!(
            "{}  {}",
            hpa(&map.hypervisor.memory),
            size(map.hypervisor.memory.size)
        ),
    );
    hv.row(
        "console",
        map.hypervisor
            .console
            .clone()
            .unwrap_or_else(|| "none".into()),
    );
    hv.write(&mut out);
    for p in &map.partitions {
        partition(map, p).write(&mut out);
    }
    let mut table = Table::new("channels");
    for channel in &map.channels {
        table.row(&channel.name, channel_line(channel));
    }
    if map.channels.is_empty() {
        table.row("none", String::new());
    }
    table.write(&mut out);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Host RAM by address, one line per stretch.
fn ram(map: &Map) -> Table {
    let mut table = Table::new("host RAM, by address");
    let width = map
        .ram
        .iter()
        .map(|r| size(r.span.size).len())
        .max()
        .unwrap_or(0);
    for r in &map.ram {
        let who = match (r.kind, &r.owner, r.guest) {
            ("partition", Some(owner), Some(guest)) => {
                let node = r
                    .node
                    .as_deref()
                    .and_then(|n| n.rsplit('/').next())
                    .unwrap_or("");
                format!("{owner}  {node} (seen at GPA:{guest:#x})")
            }
            ("channel", Some(owner), _) => format!("channel {owner}"),
            (kind, _, _) => kind.to_string(),
        };
        table.row(
            &hpa(&r.span),
            format!("{:>width$}  {who}", size(r.span.size)),
        );
    }
    table
}

/// Every CPU and who runs on it.
fn cpus(map: &Map) -> Table {
    let mut table = Table::new("CPUs");
    for cpu in &map.cpus {
        let who = match (&cpu.owner, cpu.vcpu) {
            (Some(owner), Some(vcpu)) => format!("{owner} vCPU {vcpu}"),
            _ => "nobody".into(),
        };
        table.row(&format!("CPU {}", cpu.name), who);
    }
    table
}

/// The devices nobody owns (`kept == false`) or the hypervisor keeps (`kept`), runs of
/// alike devices (same bus and name, e.g. 32 `virtio_mmio@…`) on one line.
fn devices(map: &Map, kept: bool) -> Table {
    let mut chosen: Vec<&Device> = map
        .devices
        .iter()
        .filter(|d| match kept {
            true => d.owner.as_deref() == Some("hypervisor"),
            false => d.owner.is_none(),
        })
        .collect();
    // By address: MMIO first, then I/O ports (x86).
    chosen.sort_by_key(|d| {
        (
            d.mmio.first().map_or(u64::MAX, |s| s.start),
            d.ports.first().map_or(0, |s| s.start),
        )
    });
    let title = if kept {
        "devices the hypervisor keeps"
    } else {
        "devices nobody owns"
    };
    let mut table = Table::new(title);
    let mut i = 0;
    while i < chosen.len() {
        let kind = family(&chosen[i].path);
        let run = chosen[i..]
            .iter()
            .take_while(|d| family(&d.path) == kind)
            .count();
        if run >= 3 {
            let (first, last) = (chosen[i], chosen[i + run - 1]);
            let mut line = format!("{run} devices, to {}", last.path);
            let mmio: Vec<&Span> = chosen[i..i + run].iter().flat_map(|d| &d.mmio).collect();
            if let (Some(lo), Some(hi)) = (
                mmio.iter().map(|s| s.start).min(),
                mmio.iter().map(|s| s.end).max(),
            ) {
                let _ = write!(line, "  MMIO {}", hpa(&Span::new(lo, hi - lo)));
            }
            let irqs: Vec<&str> = chosen[i..i + run]
                .iter()
                .flat_map(|d| &d.interrupts)
                .map(|q| q.name.as_str())
                .collect();
            if let (Some(lo), Some(hi)) = (irqs.first(), irqs.last()) {
                let _ = write!(line, "  {lo} … {hi}");
            }
            table.row(&first.path, line);
        } else {
            for d in &chosen[i..i + run] {
                let mut line = device_line(d);
                if let Some(role) = d.role.filter(|_| kept) {
                    line = format!("{role}{line}");
                }
                table.row(&d.path, line.trim().to_string());
            }
        }
        i += run;
    }
    if chosen.is_empty() {
        table.row("none", String::new());
    }
    table
}

/// A device's bus and node name without its unit address.
fn family(path: &str) -> &str {
    path.split('@').next().unwrap_or(path)
}

/// Each image, its file, its size and where it lands.
fn images(map: &Map) -> Table {
    let mut table = Table::new("images");
    for image in &map.images {
        let guest = if image.test_guest {
            "  (in-tree test guest)"
        } else {
            ""
        };
        table.row(
            &image.name,
            format!("{}  {}{guest}", image.path, approx_size(image.size)),
        );
        for load in &image.loads {
            let host = load
                .host
                .map(|h| format!(" (HPA:{h:#x})"))
                .unwrap_or_default();
            table.row(
                &image.name,
                format!(
                    "{} {} at GPA:{:#x}{host}",
                    load.partition, load.r#as, load.guest
                ),
            );
        }
    }
    if map.images.is_empty() {
        table.row("none", String::new());
    }
    table
}

fn partition(map: &Map, p: &Partition) -> Table {
    let mut table = Table::new(&format!("partition {}: {}", p.id, p.name));
    let cpus: Vec<String> = p
        .cpus
        .iter()
        .map(|c| format!("{}→{}", c.vcpu.unwrap_or(0), c.name))
        .collect();
    table.row("vCPU→CPU", cpus.join("  "));
    for r in &p.memory {
        let placement = if r.identity { "identity" } else { "moved" };
        table.row(
            "memory",
            format!(
                "{} → HPA:{:#x}  {}  ({placement})",
                gpa(&r.guest),
                r.host,
                size(r.guest.size)
            ),
        );
    }
    for path in &p.devices {
        let line = map
            .devices
            .iter()
            .find(|d| &d.path == path)
            .map(device_line)
            .unwrap_or_default();
        table.row("devices", format!("{path}{line}"));
    }
    if p.devices.is_empty() {
        table.row("devices", "none (no passthrough)".into());
    }
    let boot = &p.boot;
    let image = |name: &str| {
        let found = map.images.iter().find(|i| i.name == name);
        match found {
            Some(i) if i.test_guest => {
                format!("{name} (in-tree test guest, {})", approx_size(i.size))
            }
            Some(i) => format!("{name} ({}, {})", i.path, approx_size(i.size)),
            None => name.to_string(),
        }
    };
    table.row("kernel", image(&boot.kernel));
    if let Some(initrd) = &boot.initrd {
        table.row("initrd", image(initrd));
    }
    if let Some(dtb) = &boot.dtb {
        table.row("dtb", image(dtb));
    }
    if let Some(load) = boot.load_address {
        table.row("load", format!("GPA:{load:#x}"));
    }
    if let (Some(entry), Some(info)) = (boot.entry, boot.boot_info) {
        table.row("entry", format!("GPA:{entry:#x}"));
        table.row(
            "boot info",
            format!("{} (at most {})", gpa(&info), size(info.size)),
        );
    }
    if let Some(args) = &boot.bootargs {
        table.row("bootargs", format!("\"{args}\""));
    }
    let console = match p.console.as_str() {
        "virtual" => "virtual (lines prefixed with the partition name)".to_string(),
        "none" => "none".to_string(),
        path => format!("passthrough {path}"),
    };
    table.row("console", console);
    table.row("restart", p.restart.into());
    table
}

/// `  MMIO …  ports …  SPI 1 (INTID 33)  DMA`, with a leading separator.
fn device_line(d: &Device) -> String {
    let mut line = String::new();
    for mmio in &d.mmio {
        let _ = write!(line, "  MMIO {}", hpa(mmio));
    }
    for ports in &d.ports {
        let _ = write!(line, "  ports {:#x}..{:#x}", ports.start, ports.end);
    }
    if !d.interrupts.is_empty() {
        let names: Vec<&str> = d.interrupts.iter().map(|i| i.name.as_str()).collect();
        let _ = write!(line, "  {}", names.join(", "));
    }
    if d.dma {
        line.push_str("  DMA");
    }
    line
}

fn channel_line(channel: &Channel) -> String {
    let seen: Vec<String> = channel
        .guest
        .iter()
        .map(|g| format!("GPA:{g:#x}"))
        .collect();
    format!(
        "{}  {}  {}  seen at {}  doorbell {}",
        channel.partitions.join(" <-> "),
        hpa(&channel.host),
        size(channel.host.size),
        seen.join(", "),
        channel.doorbell.name
    )
}

/// `HPA:0x…..HPA:0x…`, end exclusive, as config errors print ranges.
fn hpa(span: &Span) -> String {
    format!("HPA:{:#x}..HPA:{:#x}", span.start, span.end)
}

/// `GPA:0x…..GPA:0x…`, end exclusive.
fn gpa(span: &Span) -> String {
    format!("GPA:{:#x}..GPA:{:#x}", span.start, span.end)
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

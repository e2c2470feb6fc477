//! The map as an SVG picture for a design review: CPUs, host RAM as a bar, each
//! partition as a card with its CPUs, memory, images and devices, and what nobody owns.

use std::fmt::Write;

use super::{approx_size, size, Map, Partition, RamSpan};

const WIDTH: i64 = 1000;
const MARGIN: i64 = 20;
/// Partition colours, in config order (then again from the start).
const COLOURS: &[&str] = &[
    "#2f6fba", "#d9822b", "#3a9d5d", "#8e44ad", "#c0392b", "#16a085", "#b7950b", "#5d6d7e",
];
const HYPERVISOR: &str = "#34495e";
const CHANNEL: &str = "#f4d03f";
const FREE: &str = "#eceff1";

/// The map as a standalone SVG document.
pub fn svg(map: &Map) -> String {
    let mut body = String::new();
    let mut y = 30;
    text(
        &mut body,
        MARGIN,
        y,
        "font-size=\"18\" font-weight=\"bold\"",
        &format!("Bulkhead partition map: {}", map.board),
    );
    y += 18;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let subtitle = format!(
        "{} ({}, {}, {})",
        map.config,
        map.arch,
        count(map.partitions.len(), "partition"),
        count(map.channels.len(), "channel")
    );
    text(&mut body, MARGIN, y, "fill=\"#555\"", &subtitle);
    y = cpus(&mut body, map, y + 26);
    y = ram(&mut body, map, y + 18);
    y = cards(&mut body, map, y + 18);
    y = unowned(&mut body, map, y + 10);
    let height = y + 16;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n{body}</svg>\n"
    )
}

/// The colour of partition `name`.
fn colour(map: &Map, name: &str) -> &'static str {
    let index = map
        .partitions
        .iter()
        .position(|p| p.name == name)
        .unwrap_or(0);
    COLOURS[index % COLOURS.len()]
}

fn heading(out: &mut String, y: i64, title: &str) {
    text(
        out,
        MARGIN,
        y,
        "font-size=\"14\" font-weight=\"bold\"",
        title,
    );
}

/// One box per CPU, in its partition's colour.
fn cpus(out: &mut String, map: &Map, y: i64) -> i64 {
    heading(out, y, "CPUs");
    let (w, h, gap) = (112, 40, 8);
    let per_row = ((WIDTH - 2 * MARGIN + gap) / (w + gap)).max(1) as usize;
    for (i, cpu) in map.cpus.iter().enumerate() {
        let x = MARGIN + (i % per_row) as i64 * (w + gap);
        let top = y + 10 + (i / per_row) as i64 * (h + gap);
        let (fill, ink, who) = match (&cpu.owner, cpu.vcpu) {
            (Some(owner), Some(vcpu)) => (
                colour(map, owner),
                "#ffffff",
                format!("{owner} vCPU {vcpu}"),
            ),
            _ => (FREE, "#555555", "nobody".to_string()),
        };
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{top}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="#90a4ae"/>"##
        );
        text(
            out,
            x + 8,
            top + 16,
            &format!("fill=\"{ink}\" font-weight=\"bold\""),
            &format!("CPU {}", cpu.name),
        );
        text(out, x + 8, top + 32, &format!("fill=\"{ink}\""), &who);
    }
    let rows = map.cpus.len().div_ceil(per_row).max(1) as i64;
    y + 10 + rows * (h + gap)
}

/// Host RAM as one bar (every claim at least a few pixels wide) and its legend.
fn ram(out: &mut String, map: &Map, y: i64) -> i64 {
    heading(out, y, "Host RAM, by address");
    let bar = WIDTH - 2 * MARGIN;
    let total: u64 = map.ram.iter().map(|r| r.span.size).sum::<u64>().max(1);
    let min = |r: &RamSpan| if r.kind == "free" { 2.0 } else { 10.0 };
    let raw: Vec<f64> = map
        .ram
        .iter()
        .map(|r| (r.span.size as f64 / total as f64 * bar as f64).max(min(r)))
        .collect();
    let scale = bar as f64 / raw.iter().sum::<f64>().max(1.0);
    let top = y + 10;
    let mut x = MARGIN as f64;
    for (r, w) in map.ram.iter().zip(&raw) {
        let w = w * scale;
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="{top}" width="{w:.1}" height="34" fill="{}" stroke="#ffffff" stroke-width="1"><title>{}</title></rect>"##,
            ram_colour(map, r),
            xml(&ram_label(r))
        );
        let label = ram_short(r);
        if w > label.chars().count() as f64 * 7.0 + 8.0 {
            let ink = if r.kind == "free" {
                "#555555"
            } else {
                "#ffffff"
            };
            text(
                out,
                (x + 4.0) as i64,
                top + 21,
                &format!("fill=\"{ink}\""),
                &label,
            );
        }
        x += w;
    }
    if let (Some(first), Some(last)) = (map.ram.first(), map.ram.last()) {
        text(
            out,
            MARGIN,
            top + 48,
            "fill=\"#555\"",
            &format!("HPA:{:#x}", first.span.start),
        );
        let end = format!("HPA:{:#x}", last.span.end);
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" fill="#555" text-anchor="end">{end}</text>"##,
            WIDTH - MARGIN,
            top + 48
        );
    }
    let mut row = top + 70;
    for r in &map.ram {
        let _ = writeln!(
            out,
            r##"<rect x="{MARGIN}" y="{}" width="12" height="12" fill="{}" stroke="#90a4ae"/>"##,
            row - 10,
            ram_colour(map, r)
        );
        text(
            out,
            MARGIN + 20,
            row,
            "",
            &format!("HPA:{:#x}..HPA:{:#x}", r.span.start, r.span.end),
        );
        text(out, MARGIN + 290, row, "", &size(r.span.size));
        text(out, MARGIN + 370, row, "", &ram_label(r));
        row += 17;
    }
    if raw
        .iter()
        .zip(&map.ram)
        .any(|(w, r)| *w > r.span.size as f64 / total as f64 * bar as f64 + 0.5)
    {
        text(out, MARGIN, row + 2, "fill=\"#777\" font-size=\"11\"", "Small regions are drawn wider than their share so that each stays visible; the legend has the exact ranges.");
        row += 17;
    }
    row
}

fn ram_colour(map: &Map, r: &RamSpan) -> &'static str {
    match (r.kind, &r.owner) {
        ("hypervisor", _) => HYPERVISOR,
        ("channel", _) => CHANNEL,
        ("partition", Some(owner)) => colour(map, owner),
        _ => FREE,
    }
}

fn ram_short(r: &RamSpan) -> String {
    match (r.kind, &r.owner) {
        ("partition", Some(owner)) | ("channel", Some(owner)) => {
            format!("{owner} {}", approx_size(r.span.size))
        }
        (kind, _) => format!("{kind} {}", approx_size(r.span.size)),
    }
}

fn ram_label(r: &RamSpan) -> String {
    match (r.kind, &r.owner, r.guest) {
        ("partition", Some(owner), Some(guest)) => {
            format!("partition {owner}, seen at GPA:{guest:#x}")
        }
        ("channel", Some(owner), _) => format!("channel {owner}"),
        ("hypervisor", _, _) => "hypervisor (image, bundle, heap, stage-2 tables)".into(),
        _ => "free".into(),
    }
}

/// One card per partition, side by side.
fn cards(out: &mut String, map: &Map, y: i64) -> i64 {
    heading(out, y, "Partitions");
    let (w, gap) = (306, 12);
    let per_row = ((WIDTH - 2 * MARGIN + gap) / (w + gap)).max(1) as usize;
    let mut bottom = y + 10;
    let mut row_top = y + 10;
    for (i, p) in map.partitions.iter().enumerate() {
        if i > 0 && i % per_row == 0 {
            row_top = bottom + gap;
        }
        let x = MARGIN + (i % per_row) as i64 * (w + gap);
        let lines = card_lines(map, p);
        let h = 30 + lines.len() as i64 * 16 + 6;
        let fill = colour(map, &p.name);
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{row_top}" width="{w}" height="{h}" rx="5" fill="#ffffff" stroke="{fill}" stroke-width="2"/>"##
        );
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{row_top}" width="{w}" height="24" rx="5" fill="{fill}"/>"##
        );
        text(
            out,
            x + 8,
            row_top + 17,
            "fill=\"#ffffff\" font-weight=\"bold\"",
            &format!("{} (partition {})", p.name, p.id),
        );
        for (k, line) in lines.iter().enumerate() {
            text(
                out,
                x + 8,
                row_top + 40 + k as i64 * 16,
                "font-size=\"11.5\"",
                &fit(line, 45),
            );
        }
        bottom = bottom.max(row_top + h);
    }
    for c in &map.channels {
        bottom += 20;
        let _ = writeln!(
            out,
            r##"<rect x="{MARGIN}" y="{}" width="12" height="12" fill="{CHANNEL}" stroke="#90a4ae"/>"##,
            bottom - 10
        );
        let line = format!(
            "channel {}: {}, {} at HPA:{:#x}, doorbell {}",
            c.name,
            c.partitions.join(" <-> "),
            size(c.host.size),
            c.host.start,
            c.doorbell.name
        );
        text(out, MARGIN + 20, bottom, "", &line);
    }
    bottom + 10
}

fn card_lines(map: &Map, p: &Partition) -> Vec<String> {
    let cpus: Vec<&str> = p.cpus.iter().map(|c| c.name.as_str()).collect();
    let mut lines = vec![format!(
        "CPUs {} ({} vCPU{})",
        cpus.join(", "),
        p.cpus.len(),
        if p.cpus.len() == 1 { "" } else { "s" }
    )];
    for r in &p.memory {
        let moved = if r.identity {
            String::new()
        } else {
            format!(" → HPA:{:#x}", r.host)
        };
        lines.push(format!(
            "RAM GPA:{:#x} {}{moved}",
            r.guest.start,
            size(r.guest.size)
        ));
    }
    for image in map.images.iter() {
        for load in image.loads.iter().filter(|l| l.partition == p.name) {
            lines.push(format!(
                "{} {} ({}) @{:#x}",
                load.r#as,
                image.name,
                approx_size(image.size),
                load.guest
            ));
        }
    }
    if let Some(info) = p.boot.boot_info {
        lines.push(format!("boot info @{:#x}", info.start));
    }
    for path in &p.devices {
        let irqs = map.devices.iter().find(|d| &d.path == path).map(|d| {
            d.interrupts
                .iter()
                .map(|i| i.name.split(" (").next().unwrap_or(&i.name).to_string())
                .collect::<Vec<_>>()
        });
        let irqs = irqs
            .filter(|v| !v.is_empty())
            .map(|v| format!(" {}", v.join(",")))
            .unwrap_or_default();
        lines.push(format!("{path}{irqs}"));
    }
    if p.devices.is_empty() {
        lines.push("no passthrough devices".into());
    }
    lines.push(format!("console {}, on stop: {}", p.console, p.restart));
    lines
}

/// What nobody owns and what the hypervisor keeps, as two wrapped lines.
fn unowned(out: &mut String, map: &Map, y: i64) -> i64 {
    let mut y = y;
    for (title, kept) in [
        ("Devices nobody owns", false),
        ("Devices the hypervisor keeps", true),
    ] {
        let names: Vec<&str> = map
            .devices
            .iter()
            .filter(|d| {
                if kept {
                    d.owner.as_deref() == Some("hypervisor")
                } else {
                    d.owner.is_none()
                }
            })
            .map(|d| d.path.as_str())
            .collect();
        y += 24;
        heading(out, y, &format!("{title} ({})", names.len()));
        let listed = if names.is_empty() {
            vec!["none".to_string()]
        } else {
            compact(&names)
        };
        let mut line = String::new();
        for name in listed {
            if line.len() + name.len() > 140 {
                y += 16;
                text(out, MARGIN, y, "", &line);
                line.clear();
            }
            if !line.is_empty() {
                line.push_str(", ");
            }
            line.push_str(&name);
        }
        y += 18;
        text(out, MARGIN, y, "", &line);
    }
    y
}

/// Runs of alike device paths as `/virtio_mmio@a000000 … @a003e00 (32)`.
fn compact(names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let family = names[i].split('@').next().unwrap_or(names[i]);
        let run = names[i..]
            .iter()
            .take_while(|n| n.split('@').next() == Some(family))
            .count();
        if run >= 3 {
            let last = names[i + run - 1].rsplit('@').next().unwrap_or("");
            out.push(format!("{} … @{last} ({run})", names[i]));
        } else {
            out.extend(names[i..i + run].iter().map(|n| n.to_string()));
        }
        i += run;
    }
    out
}

fn text(out: &mut String, x: i64, y: i64, attributes: &str, content: &str) {
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{y}" {attributes}>{}</text>"##,
        xml(content)
    );
}

/// `s` cut to `chars` characters with an ellipsis.
fn fit(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        return s.to_string();
    }
    let cut: String = s.chars().take(chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_alike_devices_are_one_entry() {
        let names = ["/a@1", "/v@1", "/v@2", "/v@3", "/b@0"];
        assert_eq!(compact(&names), ["/a@1", "/v@1 … @3 (3)", "/b@0"]);
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(xml("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}

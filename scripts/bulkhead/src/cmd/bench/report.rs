//! The results as a text table, as JSON and as an SVG bar chart.

use std::fmt::Write;

/// One figure of a row: an exact number in thousandths, or a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Value × 1000 (the guest prints means with three decimals).
    Milli(i64),
    /// Text, e.g. `n/a (run scripts/setup)`.
    Text(String),
}

impl Cell {
    /// A whole number.
    pub fn int(n: u64) -> Self {
        Cell::Milli(i64::try_from(n).unwrap_or(i64::MAX / 1000).saturating_mul(1000))
    }

    /// `"191.000"` or `"191"` as printed by the bench guest.
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
        let whole: i64 = whole.parse().ok()?;
        let frac: String = frac.chars().chain("000".chars()).take(3).collect();
        Some(Cell::Milli(whole * 1000 + frac.parse::<i64>().ok()?))
    }

    fn milli(&self) -> Option<i64> {
        match self {
            Cell::Milli(m) => Some(*m),
            Cell::Text(_) => None,
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable key for JSON.
    pub key: &'static str,
    /// What is measured, as the table says it.
    pub metric: String,
    /// Unit of the numbers.
    pub unit: &'static str,
    /// Bare QEMU (`None`: no such thing, e.g. the hypervisor's image size).
    pub bare: Option<Cell>,
    /// Under Bulkhead.
    pub bulkhead: Cell,
}

impl Row {
    /// Bulkhead minus bare metal, in thousandths, when both are numbers.
    pub fn delta(&self) -> Option<i64> {
        Some(self.bulkhead.milli()? - self.bare.as_ref()?.milli()?)
    }
}

/// Thousands-grouped, three decimals only when there is a fraction.
pub fn number(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let m = milli.unsigned_abs();
    let whole = (m / 1000).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match m % 1000 {
        0 => format!("{sign}{grouped}"),
        f => format!("{sign}{grouped}.{f:03}"),
    }
}

fn cell_text(cell: Option<&Cell>) -> String {
    match cell {
        None => "—".to_string(),
        Some(Cell::Milli(m)) => number(*m),
        Some(Cell::Text(t)) => t.clone(),
    }
}

fn delta_text(row: &Row) -> String {
    let Some(d) = row.delta() else { return "—".to_string() };
    let sign = if d > 0 { "+" } else { "" };
    match row.bare.as_ref().and_then(Cell::milli) {
        // A ratio to a bare-metal figure of a few instructions says nothing.
        Some(base) if base < 10_000 => format!("{sign}{}", number(d)),
        Some(base) if d >= 9 * base => {
            format!("{sign}{} (×{:.0})", number(d), (base + d) as f64 / base as f64)
        }
        Some(base) if base > 0 => {
            let pct = d as f64 * 100.0 / base as f64;
            format!("{sign}{} ({sign}{pct:.2}%)", number(d))
        }
        _ => format!("{sign}{}", number(d)),
    }
}

/// The table as Markdown (it reads as plain text too).
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let metric = match r.unit {
                "" => r.metric.clone(),
                u => format!("{} ({u})", r.metric),
            };
            [metric, cell_text(r.bare.as_ref()), cell_text(Some(&r.bulkhead)), delta_text(r)]
        })
        .collect();
    let head = ["metric", "bare metal", "Bulkhead", "delta"].map(String::from);
    let width = |i: usize| {
        cells
            .iter()
            .chain([&head])
            .map(|c| c[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3)];
    let line = |c: &[String; 4]| {
        let pad = |s: &str, w: usize, right: bool| {
            let fill = " ".repeat(w.saturating_sub(s.chars().count()));
            if right { format!("{fill}{s}") } else { format!("{s}{fill}") }
        };
        format!(
            "| {} | {} | {} | {} |\n",
            pad(&c[0], widths[0], false),
            pad(&c[1], widths[1], true),
            pad(&c[2], widths[2], true),
            pad(&c[3], widths[3], true)
        )
    };
    let mut out = line(&head);
    let dashes = |w: usize, right: bool| {
        if right { format!("{}:", "-".repeat(w + 1)) } else { "-".repeat(w + 2) }
    };
    let _ = writeln!(
        out,
        "|{}|{}|{}|{}|",
        dashes(widths[0], false),
        dashes(widths[1], true),
        dashes(widths[2], true),
        dashes(widths[3], true)
    );
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_cell(cell: Option<&Cell>) -> String {
    match cell {
        None => "null".to_string(),
        Some(Cell::Milli(m)) if m % 1000 == 0 => (m / 1000).to_string(),
        Some(Cell::Milli(m)) => format!("{}.{:03}", m / 1000, (m % 1000).abs()),
        Some(Cell::Text(t)) => json_str(t),
    }
}

/// `{"metrics": [...], <extra>}`: every row, then `extra` (already JSON members).
pub fn json(rows: &[Row], extra: &[(&str, String)]) -> String {
    let mut out = String::from("{\n  \"metrics\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let delta = r.delta().map(|d| json_cell(Some(&Cell::Milli(d))));
        let _ = writeln!(
            out,
            "    {{\"key\": {}, \"metric\": {}, \"unit\": {}, \"bare_metal\": {}, \"bulkhead\": {}, \"delta\": {}}}{}",
            json_str(r.key),
            json_str(&r.metric),
            json_str(r.unit),
            json_cell(r.bare.as_ref()),
            json_cell(Some(&r.bulkhead)),
            delta.unwrap_or_else(|| "null".into()),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ]");
    for (key, value) in extra {
        let _ = write!(out, ",\n  {}: {value}", json_str(key));
    }
    out.push_str("\n}\n");
    out
}

/// Horizontal bars, bare metal and Bulkhead per metric, each metric scaled to its own
/// larger value (the figures span nine orders of magnitude).
pub fn svg(rows: &[Row], subtitle: &str) -> String {
    let pairs: Vec<(&Row, i64, i64)> = rows
        .iter()
        .filter_map(|r| Some((r, r.bare.as_ref()?.milli()?, r.bulkhead.milli()?)))
        .collect();
    let (w, left, bar_w, row_h, top) = (900, 200, 470, 66, 78);
    let h = top + pairs.len() as i64 * row_h + 30;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="13">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    let _ = writeln!(s, r##"<text x="16" y="26" font-size="17" font-weight="bold">Bulkhead vs bare metal (QEMU icount: 1 tick = 1 instruction)</text>"##);
    let (first, second) = subtitle.split_at(subtitle.find(" -icount").unwrap_or(subtitle.len()));
    for (k, part) in [first, second.trim_start()].iter().enumerate() {
        let _ = writeln!(s, r##"<text x="16" y="{}" fill="#555" font-size="12">{}</text>"##, 44 + k as i64 * 15, xml(part));
    }
    for (i, (row, bare, bulk)) in pairs.iter().enumerate() {
        let y = top + i as i64 * row_h;
        let max = (*bare).max(*bulk).max(1) as f64;
        let len = |v: i64| ((v.max(0) as f64 / max) * bar_w as f64).round().max(1.0) as i64;
        let label = match row.unit {
            "" => row.metric.clone(),
            u => format!("{} ({u})", row.metric),
        };
        let _ = writeln!(s, r##"<text x="16" y="{}" font-weight="bold">{}</text>"##, y + 14, xml(&label));
        let _ = writeln!(s, r##"<text x="16" y="{}" fill="#555">delta {}</text>"##, y + 44, xml(&delta_text(row)));
        for (j, (value, colour, who)) in [(*bare, "#9aa5b1", "bare metal"), (*bulk, "#2f6fba", "Bulkhead")].iter().enumerate() {
            let by = y + 22 + j as i64 * 20;
            let _ = writeln!(s, r##"<rect x="{left}" y="{by}" width="{}" height="16" fill="{colour}"/>"##, len(*value));
            let _ = writeln!(s, r##"<text x="{}" y="{}">{} {}</text>"##, left + len(*value) + 6, by + 13, who, xml(&number(*value)));
        }
    }
    let _ = writeln!(s, r##"<text x="16" y="{}" fill="#555" font-size="12">Each metric is scaled to its larger value. Data: target/bench/results.json</text>"##, h - 10);
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bare: i64, bulk: i64) -> Row {
        Row {
            key: "k",
            metric: "m".into(),
            unit: "instructions",
            bare: Some(Cell::Milli(bare)),
            bulkhead: Cell::Milli(bulk),
        }
    }

    #[test]
    fn cells_parse_exactly() {
        assert_eq!(Cell::parse("191.000"), Some(Cell::Milli(191_000)));
        assert_eq!(Cell::parse("12.5"), Some(Cell::Milli(12_500)));
        assert_eq!(Cell::parse("1257267"), Some(Cell::Milli(1_257_267_000)));
        assert_eq!(Cell::parse("x"), None);
    }

    #[test]
    fn numbers_group_and_keep_fractions() {
        assert_eq!(number(1_257_267_000), "1,257,267");
        assert_eq!(number(124_500), "124.500");
        assert_eq!(number(-3_000), "-3");
    }

    #[test]
    fn deltas_have_a_percentage_when_the_base_is_not_zero() {
        assert_eq!(delta_text(&row(3_000, 124_000)), "+121");
        assert_eq!(delta_text(&row(20_000, 400_000)), "+380 (×20)");
        assert_eq!(delta_text(&row(100_000, 102_350)), "+2.350 (+2.35%)");
        assert_eq!(delta_text(&row(0, 5_000)), "+5");
        assert_eq!(delta_text(&row(32_770_000, 32_770_000)), "0 (0.00%)");
    }

    #[test]
    fn json_and_svg_are_well_formed_enough() {
        let rows = [row(1_000, 2_000)];
        let j = json(&rows, &[("x", "1".into())]);
        assert!(j.contains("\"bare_metal\": 1, \"bulkhead\": 2, \"delta\": 1"));
        assert!(j.trim_end().ends_with('}'));
        let s = svg(&rows, "a < b");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("a &lt; b"));
    }
}

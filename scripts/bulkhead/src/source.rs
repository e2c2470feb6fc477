//! Where each node and property of a device-tree source came from, so that an error
//! about `/partitions/alpha: cpus` can name `config.dts:23`.
//!
//! `dtc -O dts -T -T` writes the tree back as DTS with every node and property
//! annotated with its source position, `/* file:LINE:COL-LINE:COL */`, across
//! `/include/` files, label references (`&alpha { … }`) and overrides. Reading that
//! output keeps dtc the only DTS parser: node paths come out exactly as the blob has
//! them, and a property given again later points at the definition that won.

use std::path::PathBuf;

/// A span of source text (lines and columns from 1, end inclusive as dtc gives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file, as dtc opened it (relative to the directory dtc ran in).
    pub file: PathBuf,
    /// First line.
    pub line: u32,
    /// First column.
    pub col: u32,
    /// Last line.
    pub end_line: u32,
    /// Column just past the span on the last line.
    pub end_col: u32,
}

/// Source positions of the nodes and properties of one compiled DTS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// Node path, property name (`None` for the node itself), where it was written.
    entries: Vec<(String, Option<String>, Position)>,
}

impl SourceMap {
    /// Reads the annotated DTS that `dtc -O dts -T -T` prints.
    pub fn from_annotated(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut path: Vec<String> = Vec::new();
        for line in text.lines() {
            let (code, position) = split_annotation(line);
            let code = code.trim();
            if code.starts_with("};") {
                path.pop();
            } else if let Some(head) = code.strip_suffix('{') {
                // `label: other: name {`: labels are the tokens ending in ':'.
                let name = head.split_whitespace().last().unwrap_or("/");
                path.push(name.to_string());
                if let Some(position) = position {
                    entries.push((join(&path), None, position));
                }
            } else if let (Some(position), Some(body)) = (position, code.strip_suffix(';')) {
                let name = body.split(" = ").next().unwrap_or(body).trim();
                if !path.is_empty() && !name.is_empty() {
                    entries.push((join(&path), Some(name.to_string()), position));
                }
            }
        }
        Self { entries }
    }

    /// Where property `property` of `node` was written; for a property the source lacks
    /// (a missing one) or none, where the node was. An unknown node falls back to its
    /// nearest ancestor the source has.
    pub fn locate(&self, node: &str, property: Option<&str>) -> Option<&Position> {
        let find = |node: &str, property: Option<&str>| {
            self.entries
                .iter()
                .find(|(n, p, _)| n == node && p.as_deref() == property)
                .map(|(_, _, position)| position)
        };
        if let Some(found) = property.and_then(|p| find(node, Some(p))) {
            return Some(found);
        }
        let mut node = node;
        loop {
            if let Some(found) = find(node, None) {
                return Some(found);
            }
            node = match node.rfind('/') {
                Some(0) if node != "/" => "/",
                Some(i) if i > 0 => &node[..i],
                _ => return None,
            };
        }
    }

    /// The source text of `property` of `node` (from the property's name to its `;`),
    /// read from its file; `None` when the map or the file does not have it.
    pub fn text(&self, node: &str, property: &str) -> Option<String> {
        let (_, _, at) = self
            .entries
            .iter()
            .find(|(n, p, _)| n == node && p.as_deref() == Some(property))?;
        let source = std::fs::read_to_string(&at.file).ok()?;
        let lines: Vec<&str> = source.lines().collect();
        let first = at.line.checked_sub(1)? as usize;
        let last = at.end_line.checked_sub(1)? as usize;
        let mut text = String::new();
        for (i, line) in lines.get(first..=last)?.iter().enumerate() {
            let from = if i == 0 {
                (at.col as usize).saturating_sub(1)
            } else {
                0
            };
            let to = match first + i == last {
                true => (at.end_col as usize).saturating_sub(1).min(line.len()),
                false => line.len(),
            };
            text.push_str(line.get(from..to)?);
            text.push(' ');
        }
        Some(text.trim().to_string())
    }
}

/// `code` and its `/* file:L:C-L:C[, …] */` annotation (the first position), if any.
fn split_annotation(line: &str) -> (&str, Option<Position>) {
    let trimmed = line.trim_end();
    let Some(start) = trimmed.rfind(" /* ").filter(|_| trimmed.ends_with(" */")) else {
        return (line, None);
    };
    let inner = &trimmed[start + 4..trimmed.len() - 3];
    let first = inner.split(", ").next().unwrap_or(inner);
    (&line[..start], parse_position(first))
}

/// `file:LINE:COL-LINE:COL`.
fn parse_position(text: &str) -> Option<Position> {
    let (head, end) = text.rsplit_once('-')?;
    let (end_line, end_col) = end.split_once(':')?;
    let mut parts = head.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next().filter(|f| !f.is_empty())?;
    Some(Position {
        file: PathBuf::from(file),
        line,
        col,
        end_line: end_line.parse().ok()?,
        end_col: end_col.parse().ok()?,
    })
}

fn join(path: &[String]) -> String {
    match path {
        [] | [_] => "/".to_string(),
        [_, rest @ ..] => rest
            .iter()
            .fold(String::new(), |acc, n| format!("{acc}/{n}")),
    }
}

/// The cells of a `name = <a b c>;` source text, as written (`0x100`, `2`, `(1 + 1)`
/// stays whole); `None` unless it is one plain `<…>` list.
pub fn cells(text: &str) -> Option<Vec<String>> {
    let value = text.split_once('=')?.1.trim().trim_end_matches(';').trim();
    let inner = value.strip_prefix('<')?.strip_suffix('>')?;
    if inner.contains(['<', '>', '(', '&']) {
        return None;
    }
    Some(inner.split_whitespace().map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATED: &str = "/dts-v1/;

/ { /* inc.dtsi:1:3-7:3, a.dts:3:3-14:3 */
\tcompatible = \"bulkhead,config-v1\"; /* a.dts:4:2-4:36 */
\tpartitions { /* inc.dtsi:2:13-6:4, a.dts:7:13-13:4 */

\t\tgamma { /* inc.dtsi:3:9-5:5 */
\t\t\tcpus = <0x03>; /* inc.dtsi:4:4-4:15 */
\t\t}; /* inc.dtsi:3:9-5:5 */

\t\talpha: alpha { /* a.dts:8:16-12:5, a.dts:15:8-15:32 */
\t\t\tcpu = <0x00 0x01>; /* a.dts:9:4-9:18 */
\t\t\ts = \"a /* b */ c;\"; /* a.dts:10:4-10:25 */

\t\t\tmemory@50000000 { /* a.dts:11:20-11:63 */
\t\t\t\treg = <0x00 0x50000000 0x00 0x1000000>; /* a.dts:11:22-11:60 */
\t\t\t}; /* a.dts:11:20-11:63 */
\t\t}; /* a.dts:8:16-12:5, a.dts:15:8-15:32 */
\t}; /* inc.dtsi:2:13-6:4, a.dts:7:13-13:4 */
}; /* inc.dtsi:1:3-7:3, a.dts:3:3-14:3 */
";

    fn at(map: &SourceMap, node: &str, property: Option<&str>) -> String {
        let p = map.locate(node, property).unwrap();
        format!("{}:{}", p.file.display(), p.line)
    }

    #[test]
    fn finds_nodes_and_properties_across_includes() {
        let map = SourceMap::from_annotated(ANNOTATED);
        assert_eq!(at(&map, "/partitions/gamma", Some("cpus")), "inc.dtsi:4");
        assert_eq!(at(&map, "/partitions/alpha", Some("cpu")), "a.dts:9");
        assert_eq!(
            at(&map, "/partitions/alpha", Some("s")),
            "a.dts:10",
            "a comment-like string"
        );
        assert_eq!(
            at(&map, "/partitions/alpha/memory@50000000", Some("reg")),
            "a.dts:11"
        );
        assert_eq!(at(&map, "/", Some("compatible")), "a.dts:4");
    }

    #[test]
    fn falls_back_to_the_node_and_its_ancestors() {
        let map = SourceMap::from_annotated(ANNOTATED);
        assert_eq!(
            at(&map, "/partitions/alpha", Some("kernel")),
            "a.dts:8",
            "a missing property"
        );
        assert_eq!(at(&map, "/partitions/alpha", None), "a.dts:8");
        assert_eq!(at(&map, "/partitions/nobody", None), "inc.dtsi:2");
        assert_eq!(at(&map, "/partitions", None), "inc.dtsi:2");
    }

    #[test]
    fn reads_cells_as_written() {
        assert_eq!(
            cells("cpus = <0 0x100>;"),
            Some(vec!["0".into(), "0x100".into()])
        );
        assert_eq!(cells("cpus = <(1 + 1)>;"), None);
        assert_eq!(cells("kernel = \"x\";"), None);
        assert!(parse_position("a.dts:1:2-3").is_none());
        assert_eq!(
            parse_position("my-dir/a.dts:1:2-3:4").unwrap().file,
            PathBuf::from("my-dir/a.dts")
        );
    }
}

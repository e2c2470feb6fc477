//! Scenario files (`ci/scenarios/*.toml`): parsing and validation into checked [`Scenario`]s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::check::{Cadence, Checks, Expect, DEFAULT_MAX_PERIODS, PERIOD_GAPS};
use crate::disk::Disk;

/// One scenario: what to boot, how long to wait and what the output must show.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Unique name: the file's stem, plus `@<board>` for a file that names several
    /// boards.
    pub name: String,
    /// What the scenario shows, in a sentence.
    pub description: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// Board directory name under `boards/`.
    pub board: String,
    /// Config file, relative to the repository root.
    pub config: PathBuf,
    /// Hard limit: QEMU is killed after this long.
    pub timeout: Duration,
    /// Extra emulator arguments after the board's command and `-kernel <image>`.
    pub qemu_extra: Vec<String>,
    /// Disk images made before the emulator starts (`qemu_extra` attaches them).
    pub disks: Vec<Disk>,
    /// What the output must (and must not) show.
    pub checks: Checks,
}

/// Longest allowed timeout: a scenario that needs more is a benchmark, not a test.
const MAX_TIMEOUT_SECS: u64 = 600;

/// A scenario file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    board: Boards,
    config: Option<String>,
    timeout: u64,
    #[serde(default)]
    qemu_extra: Vec<String>,
    #[serde(default)]
    expect: Vec<RawExpect>,
    #[serde(default)]
    never: Vec<String>,
    #[serde(default)]
    cadence: Vec<RawCadence>,
    #[serde(default)]
    disk: Vec<RawDisk>,
}

/// `board = "name"`, or `board = ["a", "b"]`: the same scenario on each board.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Boards {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    path: String,
    #[serde(default = "default_disk_mib")]
    size_mib: u32,
    files: std::collections::BTreeMap<String, String>,
}

fn default_disk_mib() -> u32 {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    source: String,
    lines: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCadence {
    partition: String,
    pattern: String,
    min_count: u64,
    max_periods: Option<f64>,
    period: Option<u64>,
    after: Option<String>,
    min_after: Option<u64>,
}

/// Reads every `*.toml` in `dir` (sorted by name). All problems are reported together,
/// one per line, each naming the file and the field.
pub fn load_scenarios(dir: &Path) -> Result<Vec<Scenario>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let (mut scenarios, mut errors) = (Vec::new(), Vec::new());
    for file in files {
        match load_file(&file) {
            Ok(mut each) => scenarios.append(&mut each),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors.join("\n"))
    }
}

/// Reads and validates one scenario file: one scenario per board it names.
pub fn load_file(file: &Path) -> Result<Vec<Scenario>, String> {
    let at = file.display();
    let source = std::fs::read_to_string(file).map_err(|e| format!("{at}: {e}"))?;
    let raw: RawScenario =
        toml::from_str(&source).map_err(|e| format!("{at}: {}", one_line(&e.to_string())))?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    build(raw, file, stem).map_err(|e| format!("{at}: {e}"))
}

/// Validates a parsed file into a [`Scenario`] per board; errors name the field.
fn build(raw: RawScenario, file: &Path, stem: &str) -> Result<Vec<Scenario>, String> {
    let safe = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if raw.name != stem || !raw.name.chars().all(safe) {
        return Err(format!(
            "name: `{}` must equal the file name `{stem}` and use [a-z0-9_-]",
            raw.name
        ));
    }
    if raw.timeout == 0 || raw.timeout > MAX_TIMEOUT_SECS {
        return Err(format!(
            "timeout: {} s is outside 1..={MAX_TIMEOUT_SECS}",
            raw.timeout
        ));
    }
    let checks = Checks {
        expect: raw
            .expect
            .into_iter()
            .enumerate()
            .map(|(i, e)| expect(i, e))
            .collect::<Result<_, _>>()?,
        never: raw
            .never
            .iter()
            .enumerate()
            .map(|(i, p)| regex(&format!("never[{i}]"), p))
            .collect::<Result<_, _>>()?,
        cadence: raw
            .cadence
            .into_iter()
            .enumerate()
            .map(|(i, c)| cadence(i, c))
            .collect::<Result<_, _>>()?,
    };
    if checks.expect.is_empty() && checks.cadence.is_empty() {
        return Err(
            "a scenario needs at least one [[expect]] or [[cadence]]: otherwise it passes at once"
                .into(),
        );
    }
    let boards = match raw.board {
        Boards::One(b) => vec![b],
        Boards::Many(b) => b,
    };
    if boards.is_empty() || boards.iter().any(|b| b.is_empty()) {
        return Err("board: needs a board name (or a list of them)".into());
    }
    if raw.config.as_deref().is_some_and(|c| Path::new(c).is_absolute()) {
        return Err(format!(
            "config: `{}` must be relative to the repository root",
            raw.config.unwrap_or_default()
        ));
    }
    let disks: Vec<Disk> = raw
        .disk
        .into_iter()
        .enumerate()
        .map(|(i, d)| Disk::new(i, &d.path, d.size_mib, d.files, &raw.qemu_extra))
        .collect::<Result<_, _>>()?;
    let several = boards.len() > 1;
    Ok(boards
        .into_iter()
        .map(|board| Scenario {
            name: if several { format!("{}@{board}", raw.name) } else { raw.name.clone() },
            description: raw.description.clone(),
            file: file.to_path_buf(),
            config: PathBuf::from(raw.config.clone().unwrap_or_else(|| format!("boards/{board}/config.dts"))),
            board,
            timeout: Duration::from_secs(raw.timeout),
            qemu_extra: raw.qemu_extra.clone(),
            disks: disks.clone(),
            checks: checks.clone(),
        })
        .collect())
}

/// Validates one `[[expect]]` table.
fn expect(i: usize, raw: RawExpect) -> Result<Expect, String> {
    if raw.lines.is_empty() {
        return Err(format!(
            "expect[{i}].lines: empty (an expectation that cannot fail)"
        ));
    }
    let lines = raw
        .lines
        .iter()
        .enumerate()
        .map(|(j, p)| regex(&format!("expect[{i}].lines[{j}]"), p));
    Ok(Expect {
        source: raw.source,
        lines: lines.collect::<Result<_, _>>()?,
    })
}

/// Validates one `[[cadence]]` table.
fn cadence(i: usize, raw: RawCadence) -> Result<Cadence, String> {
    let field = |name: &str| format!("cadence[{i}].{name}");
    let pattern = regex(&field("pattern"), &raw.pattern)?;
    for group in ["n", "t"] {
        if !pattern.capture_names().flatten().any(|name| name == group) {
            return Err(format!(
                "{}: needs a named group (?P<{group}>…)",
                field("pattern")
            ));
        }
    }
    let enough = PERIOD_GAPS as u64 + 1;
    if raw.min_count < enough {
        return Err(format!(
            "{}: {} heartbeats cannot measure a period ({PERIOD_GAPS} gaps); use {enough} or more",
            field("min_count"),
            raw.min_count
        ));
    }
    let max_periods = raw.max_periods.unwrap_or(DEFAULT_MAX_PERIODS);
    // Written as a negated range test so that NaN (every comparison false) is refused too.
    if !(max_periods > 1.0 && max_periods < 2.0) {
        return Err(format!(
            "{}: {max_periods} must lie between 1 (normal jitter would fail) and 2 (a lost \
             beat, a gap of 2 periods, would pass)",
            field("max_periods")
        ));
    }
    if raw.period == Some(0) {
        return Err(format!("{}: must be positive", field("period")));
    }
    let after = raw
        .after
        .as_deref()
        .map(|p| regex(&field("after"), p))
        .transpose()?;
    if after.is_none() && raw.min_after.is_some() {
        return Err(format!(
            "{}: only meaningful with `after`",
            field("min_after")
        ));
    }
    Ok(Cadence {
        partition: raw.partition,
        pattern,
        min_count: raw.min_count,
        max_periods,
        period: raw.period,
        after,
        min_after: raw.min_after.unwrap_or(3),
    })
}

/// Compiles a pattern; the error names the field.
fn regex(field: &str, pattern: &str) -> Result<Regex, String> {
    // `'\\bFAIL\\b'` in a TOML literal string is the regex `\\bFAIL\\b`: a literal
    // backslash, never matched, so the check could not fail. A doubled backslash before
    // a class or escape letter is that mistake, never meant.
    let doubled = Regex::new(r"\\\\[bBdDsSwW\[\]().]").map_err(|e| e.to_string())?;
    if let Some(m) = doubled.find(pattern) {
        return Err(format!(
            "{field}: `{}` is a literal backslash; in a '...' string write one backslash",
            m.as_str()
        ));
    }
    Regex::new(pattern).map_err(|e| format!("{field}: {}", one_line(&e.to_string())))
}

/// Folds a multi-line library message onto one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;

//! The matcher: decides, line by line, whether a scenario's output satisfies its checks.
//!
//! It knows nothing about emulators: it is fed attributed console lines and answers
//! [`Progress`], so every kind of check is unit-tested on synthetic transcripts.

use regex::Regex;

#[cfg(test)]
mod tests;

/// The source name of lines that do not come from a partition's virtual console.
pub const HYPERVISOR: &str = "hypervisor";

/// Lines one source must print, in this order (other lines may come in between).
#[derive(Debug, Clone)]
pub struct Expect {
    /// A partition name, or [`HYPERVISOR`].
    pub source: String,
    /// Patterns matched (unanchored) against the line text without the `[name] ` prefix.
    pub lines: Vec<Regex>,
}

/// A heartbeat whose sequence numbers must be consecutive and whose time stamps close.
#[derive(Debug, Clone)]
pub struct Cadence {
    /// The partition that prints the heartbeat.
    pub partition: String,
    /// Pattern with named groups `n` (sequence number) and `t` (counter value in ticks).
    pub pattern: Regex,
    /// Heartbeats needed before the scenario can succeed.
    pub min_count: u64,
    /// Largest allowed difference of consecutive `t` values, in ticks.
    pub max_gap: u64,
    /// A line (matched against whole lines, prefix included) after which the heartbeat
    /// must go on: proves the cadence held *across* an event, not only before it.
    pub after: Option<Regex>,
    /// Heartbeats needed after `after` was seen.
    pub min_after: u64,
}

/// Everything a scenario checks in its output.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Ordered line lists, each for one source.
    pub expect: Vec<Expect>,
    /// Patterns that must match no line (whole line, prefix included).
    pub never: Vec<Regex>,
    /// Heartbeats that must keep their cadence.
    pub cadence: Vec<Cadence>,
}

/// Where a scenario stands after the lines seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not everything has been seen yet, and nothing has gone wrong.
    Pending,
    /// Every expectation and cadence count is met.
    Satisfied,
    /// A check failed; the reason. Final: more output cannot undo it.
    Failed(String),
}

/// Splits a console line into its source and text: `[alpha] hb 3` comes from partition
/// `alpha`; anything else (decoded defmt frames, plain hypervisor text) from [`HYPERVISOR`].
pub fn attribute(line: &str) -> (&str, &str) {
    let Some(rest) = line.strip_prefix('[') else {
        return (HYPERVISOR, line);
    };
    let Some(end) = rest.find(']') else {
        return (HYPERVISOR, line);
    };
    let name = &rest[..end];
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 15 || !name.chars().all(valid) {
        return (HYPERVISOR, line);
    }
    let text = &rest[end + 1..];
    (name, text.strip_prefix(' ').unwrap_or(text))
}

/// One heartbeat seen: its sequence number and counter value.
#[derive(Debug, Clone, Copy)]
struct Beat {
    n: u64,
    t: u64,
}

/// What has been seen of one [`Cadence`].
#[derive(Debug, Clone, Default)]
struct CadenceState {
    count: u64,
    last: Option<Beat>,
    /// The heartbeat count when the `after` line was seen.
    after_at: Option<u64>,
    max_seen_gap: u64,
}

/// Feeds lines through a scenario's [`Checks`] and keeps the verdict.
#[derive(Debug)]
pub struct Checker<'a> {
    checks: &'a Checks,
    cursors: Vec<usize>,
    cadence: Vec<CadenceState>,
    lines_seen: usize,
    failure: Option<String>,
}

impl<'a> Checker<'a> {
    /// A checker that has seen no output yet.
    pub fn new(checks: &'a Checks) -> Self {
        Self {
            checks,
            cursors: vec![0; checks.expect.len()],
            cadence: vec![CadenceState::default(); checks.cadence.len()],
            lines_seen: 0,
            failure: None,
        }
    }

    /// Takes one complete console line (without its newline) and returns the progress.
    pub fn line(&mut self, line: &str) -> Progress {
        if self.failure.is_some() {
            return self.progress();
        }
        self.lines_seen += 1;
        if let Some(re) = self.checks.never.iter().find(|re| re.is_match(line)) {
            self.failure = Some(format!(
                "output line {} matches forbidden /{re}/: {line}",
                self.lines_seen
            ));
            return self.progress();
        }
        let (source, text) = attribute(line);
        for (expect, cursor) in self.checks.expect.iter().zip(&mut self.cursors) {
            if expect.source == source
                && expect
                    .lines
                    .get(*cursor)
                    .is_some_and(|re| re.is_match(text))
            {
                *cursor += 1;
            }
        }
        for i in 0..self.checks.cadence.len() {
            if let Err(reason) = self.cadence_line(i, line, source, text) {
                self.failure = Some(reason);
                break;
            }
        }
        self.progress()
    }

    /// Updates cadence `i` with one line; an error is a broken cadence.
    fn cadence_line(
        &mut self,
        i: usize,
        line: &str,
        source: &str,
        text: &str,
    ) -> Result<(), String> {
        let spec = &self.checks.cadence[i];
        let state = &mut self.cadence[i];
        if state.after_at.is_none() && spec.after.as_ref().is_some_and(|re| re.is_match(line)) {
            state.after_at = Some(state.count);
        }
        if source != spec.partition {
            return Ok(());
        }
        let Some(caps) = spec.pattern.captures(text) else {
            return Ok(());
        };
        let who = &spec.partition;
        let field = |name: &str| {
            let raw = caps.name(name).map_or("", |m| m.as_str());
            parse_number(raw).ok_or_else(|| {
                format!("[{who}] heartbeat `{text}`: {name}=`{raw}` is not a number")
            })
        };
        let beat = Beat {
            n: field("n")?,
            t: field("t")?,
        };
        if let Some(prev) = state.last {
            let gap = step(who, prev, beat, spec.max_gap)?;
            state.max_seen_gap = state.max_seen_gap.max(gap);
        }
        state.last = Some(beat);
        state.count += 1;
        Ok(())
    }

    /// The verdict on the lines seen so far.
    pub fn progress(&self) -> Progress {
        if let Some(reason) = &self.failure {
            return Progress::Failed(reason.clone());
        }
        let expects_met = self
            .checks
            .expect
            .iter()
            .zip(&self.cursors)
            .all(|(e, &c)| c == e.lines.len());
        let cadences_met = self
            .checks
            .cadence
            .iter()
            .zip(&self.cadence)
            .all(|(c, s)| cadence_met(c, s));
        if expects_met && cadences_met {
            Progress::Satisfied
        } else {
            Progress::Pending
        }
    }

    /// What is still missing, one item per line (empty when satisfied).
    pub fn missing(&self) -> String {
        let mut out = Vec::new();
        for (expect, &cursor) in self.checks.expect.iter().zip(&self.cursors) {
            if let Some(re) = expect.lines.get(cursor) {
                out.push(format!(
                    "[{}] never printed /{re}/ (after {cursor} of {} expected lines)",
                    expect.source,
                    expect.lines.len()
                ));
            }
        }
        for (spec, state) in self.checks.cadence.iter().zip(&self.cadence) {
            if !cadence_met(spec, state) {
                out.push(cadence_shortfall(spec, state));
            }
        }
        out.join("\n")
    }

    /// A short account of what was seen, for a passing scenario's note.
    pub fn summary(&self) -> String {
        let lists: usize = self.checks.expect.iter().map(|e| e.lines.len()).sum();
        let mut out = format!(
            "{lists} expected lines seen in {} output lines",
            self.lines_seen
        );
        for (spec, state) in self.checks.cadence.iter().zip(&self.cadence) {
            out.push_str(&format!(
                "; [{}] {} heartbeats, largest gap {} ticks",
                spec.partition, state.count, state.max_seen_gap
            ));
        }
        out
    }
}

/// Checks one heartbeat against the one before it; returns the gap in ticks.
fn step(who: &str, prev: Beat, beat: Beat, max_gap: u64) -> Result<u64, String> {
    let next = prev.n.wrapping_add(1);
    if beat.n != next {
        return Err(format!(
            "[{who}] heartbeat sequence broken: {} follows {} (expected {next})",
            beat.n, prev.n
        ));
    }
    let gap = beat.t.checked_sub(prev.t).ok_or_else(|| {
        format!(
            "[{who}] counter went backwards: t={} after t={}",
            beat.t, prev.t
        )
    })?;
    if gap > max_gap {
        return Err(format!(
            "[{who}] heartbeat {} came {gap} ticks after heartbeat {} (max_gap {max_gap})",
            beat.n, prev.n
        ));
    }
    Ok(gap)
}

/// Whether one cadence has seen enough heartbeats (before and after its event).
fn cadence_met(spec: &Cadence, state: &CadenceState) -> bool {
    let after_met = match (&spec.after, state.after_at) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(at)) => state.count - at >= spec.min_after,
    };
    state.count >= spec.min_count && after_met
}

/// Says why a cadence is not met yet.
fn cadence_shortfall(spec: &Cadence, state: &CadenceState) -> String {
    let who = &spec.partition;
    match (&spec.after, state.after_at) {
        (Some(re), None) => format!(
            "[{who}] heartbeat: /{re}/ never seen ({} heartbeats before it)",
            state.count
        ),
        (Some(re), Some(at)) if state.count - at < spec.min_after => format!(
            "[{who}] heartbeat: {} of {} heartbeats after /{re}/",
            state.count - at,
            spec.min_after
        ),
        _ => format!(
            "[{who}] heartbeat: {} of {} heartbeats",
            state.count, spec.min_count
        ),
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal number.
fn parse_number(raw: &str) -> Option<u64> {
    match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => raw.parse().ok(),
    }
}

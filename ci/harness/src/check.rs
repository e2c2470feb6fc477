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

/// A heartbeat whose sequence numbers must be consecutive and whose beats keep their
/// own measured period.
#[derive(Debug, Clone)]
pub struct Cadence {
    /// The partition that prints the heartbeat.
    pub partition: String,
    /// Pattern with named groups `n` (sequence number) and `t` (counter value in ticks).
    pub pattern: Regex,
    /// Heartbeats needed before the scenario can succeed (at least [`PERIOD_GAPS`] + 1,
    /// so that the period is measured before the cadence can be met).
    pub min_count: u64,
    /// Largest allowed gap between consecutive beats, in measured periods (the median
    /// gap): above 1 (jitter) and below 2 (one lost beat must fail).
    pub max_periods: f64,
    /// The heartbeat's nominal period in ticks, if known: the measured period must then
    /// lie within [`PERIOD_TOLERANCE_PERCENT`] of it (a uniformly slowed heartbeat has a
    /// longer median and would otherwise pass the relative check).
    pub period: Option<u64>,
    /// A line (matched against whole lines, prefix included) after which the heartbeat
    /// must go on: proves the cadence held *across* an event, not only before it.
    pub after: Option<Regex>,
    /// Heartbeats needed after `after` was seen.
    pub min_after: u64,
}

/// The default [`Cadence::max_periods`].
pub const DEFAULT_MAX_PERIODS: f64 = 1.5;
/// Gaps (consecutive beat pairs) needed before the period counts as measured; until
/// then no gap is judged, and a cadence cannot be met.
pub const PERIOD_GAPS: usize = 4;
/// How far (in percent) the measured period may be from [`Cadence::period`].
pub const PERIOD_TOLERANCE_PERCENT: u64 = 10;

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

/// The time between two consecutive heartbeats.
#[derive(Debug, Clone, Copy)]
struct Gap {
    /// Sequence numbers of the beats before and after it.
    from: u64,
    to: u64,
    ticks: u64,
}

/// What has been seen of one [`Cadence`].
#[derive(Debug, Clone, Default)]
struct CadenceState {
    count: u64,
    last: Option<Beat>,
    /// The heartbeat count when the `after` line was seen.
    after_at: Option<u64>,
    /// Every gap so far, in ticks, sorted: the period is their median.
    gaps: Vec<u64>,
    /// The largest gap so far (the first of equals).
    worst: Option<Gap>,
    /// The output line number of the last heartbeat.
    last_line: usize,
    /// Heartbeats needed to close the gap that was open when everything else was met.
    close_at: u64,
}

impl CadenceState {
    /// The measured period: the (lower) median gap, once [`PERIOD_GAPS`] gaps were seen.
    fn period(&self) -> Option<u64> {
        (self.gaps.len() >= PERIOD_GAPS).then(|| self.gaps[(self.gaps.len() - 1) / 2])
    }

    /// Records one gap.
    fn add_gap(&mut self, gap: Gap) {
        let at = self.gaps.partition_point(|&g| g <= gap.ticks);
        self.gaps.insert(at, gap.ticks);
        if self.worst.is_none_or(|w| gap.ticks > w.ticks) {
            self.worst = Some(gap);
        }
    }
}

/// Feeds lines through a scenario's [`Checks`] and keeps the verdict.
#[derive(Debug)]
pub struct Checker<'a> {
    checks: &'a Checks,
    cursors: Vec<usize>,
    cadence: Vec<CadenceState>,
    lines_seen: usize,
    /// Every expectation and cadence count was met (see [`Checker::progress`]).
    all_met: bool,
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
            all_met: false,
            failure: None,
        }
    }

    /// Takes one complete console line (without its newline) and returns the progress.
    pub fn line(&mut self, line: &str) -> Progress {
        if self.failure.is_some() {
            return self.progress();
        }
        self.lines_seen += 1;
        if crate::log::is_boot_refusal(line) {
            // Always a failure, whatever the scenario forbids: nothing started.
            self.failure = Some(format!("the hypervisor refused to boot: {line}"));
            return self.progress();
        }
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
                return self.progress();
            }
        }
        if !self.all_met && self.counts_met() {
            // The verdict is not final yet: each heartbeat's gap since its last beat is
            // still open, and a neighbour that went quiet just now must not pass. One
            // more beat of each closes that gap and is judged like every other (a beat
            // on this very line closed its gap already).
            self.all_met = true;
            for state in &mut self.cadence {
                state.close_at = state.count + u64::from(state.last_line != self.lines_seen);
            }
        }
        self.progress()
    }

    /// Whether every expectation and every cadence's counts are met.
    fn counts_met(&self) -> bool {
        let expects_met = self
            .checks
            .expect
            .iter()
            .zip(&self.cursors)
            .all(|(e, &c)| c == e.lines.len());
        expects_met
            && self
                .checks
                .cadence
                .iter()
                .zip(&self.cadence)
                .all(|(c, s)| cadence_met(c, s))
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
            let ticks = step(who, prev, beat)?;
            state.add_gap(Gap {
                from: prev.n,
                to: beat.n,
                ticks,
            });
        }
        state.last = Some(beat);
        state.count += 1;
        state.last_line = self.lines_seen;
        // Judged again on every beat: the period is the median of *all* gaps so far, so
        // the verdict when the scenario is satisfied covers every beat it saw, the last
        // one included (this runs before `progress` is asked).
        judge(spec, state)
    }

    /// The verdict on the lines seen so far: satisfied once every expectation and
    /// cadence count is met *and* every heartbeat has beaten once more since (closing
    /// its last gap, which is judged), failed as soon as any check fails.
    pub fn progress(&self) -> Progress {
        if let Some(reason) = &self.failure {
            return Progress::Failed(reason.clone());
        }
        if self.all_met && self.cadence.iter().all(|s| s.count >= s.close_at) {
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
            } else if self.all_met && state.count < state.close_at {
                let last = state.last.map_or(0, |b| b.n);
                out.push(format!(
                    "[{}] heartbeat: no beat after heartbeat {last} since everything else was met \
                     (its gap is still open)",
                    spec.partition
                ));
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
                "; [{}] {} heartbeats",
                spec.partition, state.count
            ));
            if let (Some(period), Some(worst)) = (state.period(), state.worst) {
                out.push_str(&format!(
                    ", period {period} ticks, largest gap {} ticks = {:.2} periods (heartbeat {} to {})",
                    worst.ticks,
                    periods(worst.ticks, period),
                    worst.from,
                    worst.to
                ));
            }
        }
        out
    }
}

/// Checks one heartbeat against the one before it; returns the gap in ticks.
fn step(who: &str, prev: Beat, beat: Beat) -> Result<u64, String> {
    let next = prev.n.wrapping_add(1);
    if beat.n != next {
        return Err(format!(
            "[{who}] heartbeat sequence broken: {} follows {} (expected {next})",
            beat.n, prev.n
        ));
    }
    match beat.t.checked_sub(prev.t) {
        None => Err(format!(
            "[{who}] counter went backwards: t={} after t={}",
            beat.t, prev.t
        )),
        Some(0) => Err(format!(
            "[{who}] counter did not advance: heartbeats {} and {} both at t={}",
            prev.n, beat.n, beat.t
        )),
        Some(gap) => Ok(gap),
    }
}

/// Judges every gap so far against the period measured so far (once there is one): the
/// largest gap must not exceed `max_periods` periods, and the period must be near the
/// nominal one if the scenario gives it.
fn judge(spec: &Cadence, state: &CadenceState) -> Result<(), String> {
    let (Some(period), Some(worst)) = (state.period(), state.worst) else {
        return Ok(());
    };
    let who = &spec.partition;
    let gaps = state.gaps.len();
    if let Some(nominal) = spec.period {
        let slack = nominal.saturating_mul(PERIOD_TOLERANCE_PERCENT) / 100;
        if period.abs_diff(nominal) > slack {
            return Err(format!(
                "[{who}] heartbeat period is {period} ticks (median of {gaps} gaps), \
                 not within {PERIOD_TOLERANCE_PERCENT}% of the nominal {nominal}"
            ));
        }
    }
    let limit = (period as f64 * spec.max_periods) as u64;
    if worst.ticks > limit {
        return Err(format!(
            "[{who}] heartbeat {} came {} ticks after heartbeat {}: {:.2} periods \
             (period {period} ticks, median of {gaps} gaps; limit {} periods = {limit} ticks)",
            worst.to,
            worst.ticks,
            worst.from,
            periods(worst.ticks, period),
            spec.max_periods
        ));
    }
    Ok(())
}

/// `ticks` in periods, for messages.
fn periods(ticks: u64, period: u64) -> f64 {
    ticks as f64 / period.max(1) as f64
}

/// Whether one cadence has seen enough heartbeats (before and after its event) and
/// has a measured period (so that every gap was judged).
fn cadence_met(spec: &Cadence, state: &CadenceState) -> bool {
    let after_met = match (&spec.after, state.after_at) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(at)) => state.count - at >= spec.min_after,
    };
    state.count >= spec.min_count && after_met && state.period().is_some()
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
        _ if state.count < spec.min_count => format!(
            "[{who}] heartbeat: {} of {} heartbeats",
            state.count, spec.min_count
        ),
        _ => format!(
            "[{who}] heartbeat: {} of {PERIOD_GAPS} gaps needed to measure its period",
            state.gaps.len()
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

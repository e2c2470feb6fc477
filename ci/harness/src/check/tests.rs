//! Synthetic transcripts: each kind of check passes when it should and fails when it should.

use super::*;

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

fn expect(source: &str, lines: &[&str]) -> Expect {
    Expect {
        source: source.into(),
        lines: lines.iter().map(|l| re(l)).collect(),
    }
}

fn heartbeat(partition: &str, min_count: u64) -> Cadence {
    Cadence {
        partition: partition.into(),
        pattern: re(r"^hb (?P<n>\d+) t=(?P<t>\S+)"),
        min_count,
        max_periods: DEFAULT_MAX_PERIODS,
        period: None,
        after: None,
        min_after: 0,
    }
}

/// Heartbeat lines of `who` numbered from `first`, the first at `t0`, then one per gap.
fn beats(who: &str, first: u64, t0: u64, gaps: &[u64]) -> Vec<String> {
    let mut t = t0;
    let mut out = vec![format!("[{who}] hb {first} t={t}")];
    for (i, gap) in gaps.iter().enumerate() {
        t += gap;
        out.push(format!("[{who}] hb {} t={t}", first + 1 + i as u64));
    }
    out
}

/// `n` gaps of `period` ticks.
fn steady(n: usize, period: u64) -> Vec<u64> {
    vec![period; n]
}

/// Feeds every line and returns the last progress.
fn run(checks: &Checks, transcript: &[&str]) -> Progress {
    let mut checker = Checker::new(checks);
    transcript
        .iter()
        .fold(Progress::Pending, |_, line| checker.line(line))
}

/// Feeds owned lines (from [`beats`]) and returns the last progress.
fn run_lines(checks: &Checks, transcript: &[String]) -> Progress {
    let lines: Vec<&str> = transcript.iter().map(String::as_str).collect();
    run(checks, &lines)
}

fn failed_with(progress: Progress, needle: &str) {
    match progress {
        Progress::Failed(reason) => assert!(
            reason.contains(needle),
            "reason `{reason}` lacks `{needle}`"
        ),
        other => panic!("expected a failure mentioning `{needle}`, got {other:?}"),
    }
}

#[test]
fn attribute_splits_partition_prefix() {
    assert_eq!(attribute("[alpha] hb 3 t=5"), ("alpha", "hb 3 t=5"));
    assert_eq!(attribute("[a_b-9] "), ("a_b-9", ""));
    assert_eq!(
        attribute("INFO  partition alpha started"),
        (HYPERVISOR, "INFO  partition alpha started")
    );
    assert_eq!(attribute("[INFO] x"), (HYPERVISOR, "[INFO] x"));
    assert_eq!(attribute("[] x"), (HYPERVISOR, "[] x"));
    assert_eq!(
        attribute("[sixteen-chars-xx] x"),
        (HYPERVISOR, "[sixteen-chars-xx] x")
    );
    assert_eq!(attribute("[unclosed x"), (HYPERVISOR, "[unclosed x"));
}

#[test]
fn ordered_lines_with_noise_between_are_satisfied() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^hello alpha", "^cpu 0 up"])],
        ..Checks::default()
    };
    let transcript = [
        "boot banner",
        "[alpha] hello alpha id=0",
        "[beta] cpu 0 up",
        "[alpha] noise",
        "[alpha] cpu 0 up",
    ];
    assert_eq!(run(&checks, &transcript), Progress::Satisfied);
}

#[test]
fn missing_line_stays_pending_and_is_named() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^hello", "^PASS cpu_on own"])],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    assert_eq!(checker.line("[alpha] hello alpha"), Progress::Pending);
    assert_eq!(checker.line("[alpha] hb 0 t=1"), Progress::Pending);
    let missing = checker.missing();
    assert!(
        missing.contains("[alpha] never printed /^PASS cpu_on own/ (after 1 of 2"),
        "{missing}"
    );
}

#[test]
fn out_of_order_lines_are_not_satisfied() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^first", "^second"])],
        ..Checks::default()
    };
    assert_eq!(
        run(&checks, &["[alpha] second", "[alpha] first"]),
        Progress::Pending
    );
}

#[test]
fn a_line_from_another_source_does_not_count() {
    let checks = Checks {
        expect: vec![
            expect("alpha", &["^PASS"]),
            expect(HYPERVISOR, &["partition alpha started"]),
        ],
        ..Checks::default()
    };
    assert_eq!(
        run(&checks, &["[beta] PASS", "[alpha] partition alpha started"]),
        Progress::Pending
    );
    assert_eq!(
        run(&checks, &["[alpha] PASS", "INFO  partition alpha started"]),
        Progress::Satisfied
    );
}

#[test]
fn forbidden_line_fails_and_stays_failed() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^PASS"])],
        never: vec![re("(?i)panic"), re(r"\bFAIL\b")],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    failed_with(
        checker.line("[beta] FAIL cpu_on own"),
        "forbidden /\\bFAIL\\b/",
    );
    failed_with(checker.line("[alpha] PASS"), "line 1");
    failed_with(
        run(&checks, &["ERROR hypervisor PANICKED at core/src/x.rs"]),
        "(?i)panic",
    );
}

#[test]
fn forbidden_pattern_sees_the_prefix() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^x"])],
        never: vec![re(r"^\[beta\] ")],
        ..Checks::default()
    };
    failed_with(run(&checks, &["[beta] anything"]), "[beta] anything");
    assert_eq!(
        run(&checks, &["[alpha] x mentions [beta] "]),
        Progress::Satisfied
    );
}

#[test]
fn cadence_needs_min_count_consecutive_beats() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 5)],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    for line in [
        "[beta] hb 7 t=1000",
        "[alpha] hb 0 t=0",
        "[beta] hb 8 t=1100",
    ] {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    for line in ["[beta] hb 9 t=1200", "[beta] hb 10 t=1300"] {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    assert!(
        checker.missing().contains("4 of 5 heartbeats"),
        "{}",
        checker.missing()
    );
    // Hex counter values parse too; this beat completes the count and closes its own gap.
    assert_eq!(checker.line("[beta] hb 11 t=0x578"), Progress::Satisfied);
    assert!(
        checker.summary().contains(
            "[beta] 5 heartbeats, period 100 ticks, largest gap 100 ticks = 1.00 periods"
        ),
        "{}",
        checker.summary()
    );
}

#[test]
fn cadence_is_not_met_before_its_period_is_measured() {
    // Built directly (the parser refuses min_count below PERIOD_GAPS + 1): three gaps
    // measure no period, so nothing was judged and the cadence is not met.
    let checks = Checks {
        cadence: vec![heartbeat("beta", 2)],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    let lines = beats("beta", 1, 0, &[100, 300, 100]);
    for line in &lines {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    assert!(
        checker
            .missing()
            .contains("3 of 4 gaps needed to measure its period"),
        "{}",
        checker.missing()
    );
    // The fourth gap measures the period (median 100): the earlier 300 is judged now.
    failed_with(
        checker.line("[beta] hb 5 t=600"),
        "heartbeat 3 came 300 ticks after heartbeat 2: 3.00 periods",
    );
}

#[test]
fn cadence_lost_beat_fails() {
    // One beat lost: a gap of 2 periods between otherwise steady beats.
    let checks = Checks {
        cadence: vec![heartbeat("beta", 20)],
        ..Checks::default()
    };
    let mut gaps = steady(9, 625_000);
    gaps.push(1_250_000);
    gaps.extend(steady(10, 625_000));
    failed_with(
        run_lines(&checks, &beats("beta", 1, 700_000, &gaps)),
        "[beta] heartbeat 11 came 1250000 ticks after heartbeat 10: 2.00 periods \
         (period 625000 ticks, median of 10 gaps; limit 1.5 periods = 937500 ticks)",
    );
}

#[test]
fn cadence_lost_beat_before_the_period_is_measured_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 20)],
        ..Checks::default()
    };
    let mut gaps = vec![200];
    gaps.extend(steady(19, 100));
    failed_with(
        run_lines(&checks, &beats("beta", 1, 0, &gaps)),
        "heartbeat 2 came 200 ticks after heartbeat 1: 2.00 periods (period 100 ticks, median of 4 gaps",
    );
}

#[test]
fn cadence_slowed_neighbour_fails() {
    // The neighbour keeps every beat but slows to 1.6 periods (from beat 11 on): the
    // first slow gap fails against the period measured before it.
    let checks = Checks {
        cadence: vec![heartbeat("gamma", 30)],
        ..Checks::default()
    };
    let mut gaps = steady(10, 625_000);
    gaps.extend(steady(20, 1_000_000));
    failed_with(
        run_lines(&checks, &beats("gamma", 1, 0, &gaps)),
        "[gamma] heartbeat 12 came 1000000 ticks after heartbeat 11: 1.60 periods \
         (period 625000 ticks, median of 11 gaps; limit 1.5 periods = 937500 ticks)",
    );
}

#[test]
fn cadence_jitter_within_the_limit_passes() {
    let checks = Checks {
        cadence: vec![heartbeat("alpha", 30)],
        ..Checks::default()
    };
    // Late and early beats around 625000 ticks; the worst is 1.49 periods, and the
    // limit itself (exactly 1.5 periods of the median) still passes.
    let pattern = [
        625_000, 640_000, 610_000, 931_250, 600_000, 625_000, 700_000,
    ];
    let mut gaps: Vec<u64> = pattern.iter().cycle().take(28).copied().collect();
    gaps.push(937_500);
    let mut checker = Checker::new(&checks);
    let lines = beats("alpha", 1, 0, &gaps);
    let progress = lines
        .iter()
        .fold(Progress::Pending, |_, line| checker.line(line));
    assert_eq!(progress, Progress::Satisfied, "{}", checker.missing());
    assert!(
        checker.summary().contains(
            "period 625000 ticks, largest gap 937500 ticks = 1.50 periods (heartbeat 29 to 30)"
        ),
        "{}",
        checker.summary()
    );
    // One tick more is over the limit.
    *gaps.last_mut().unwrap() += 1;
    failed_with(
        run_lines(&checks, &beats("alpha", 1, 0, &gaps)),
        "937501 ticks after heartbeat 29: 1.50 periods",
    );
}

#[test]
fn cadence_late_last_beat_fails() {
    // The beat that completes the count is the late one: judged before success.
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10)],
        ..Checks::default()
    };
    let mut gaps = steady(8, 100);
    gaps.push(200);
    failed_with(
        run_lines(&checks, &beats("beta", 1, 0, &gaps)),
        "heartbeat 10 came 200 ticks after heartbeat 9: 2.00 periods",
    );
}

#[test]
fn cadence_gap_open_when_everything_else_is_met_is_judged() {
    // beta's counts are met before alpha's last line; the scenario is not over until
    // beta beats once more, and that beat, if late, fails it.
    let checks = Checks {
        expect: vec![expect("alpha", &["^done$"])],
        cadence: vec![heartbeat("beta", 5)],
        ..Checks::default()
    };
    let steady_beats = beats("beta", 1, 0, &steady(5, 100));
    let mut checker = Checker::new(&checks);
    for line in &steady_beats {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    assert_eq!(checker.line("[alpha] done"), Progress::Pending);
    let missing = checker.missing();
    assert!(
        missing
            .contains("[beta] heartbeat: no beat after heartbeat 6 since everything else was met"),
        "{missing}"
    );
    failed_with(
        checker.line("[beta] hb 7 t=700"),
        "heartbeat 7 came 200 ticks after heartbeat 6",
    );
    let mut on_time = steady_beats.clone();
    on_time.push("[alpha] done".into());
    on_time.push("[beta] hb 7 t=600".into());
    assert_eq!(run_lines(&checks, &on_time), Progress::Satisfied);
}

#[test]
fn cadence_uniformly_slow_heartbeat_fails_against_its_nominal_period() {
    // Every beat at 2 periods keeps a steady rhythm: only the nominal period catches it.
    let mut cadence = heartbeat("beta", 10);
    let slow = beats("beta", 1, 0, &steady(9, 1_250_000));
    let checks = Checks {
        cadence: vec![cadence.clone()],
        ..Checks::default()
    };
    assert_eq!(run_lines(&checks, &slow), Progress::Satisfied);
    cadence.period = Some(625_000);
    let checks = Checks {
        cadence: vec![cadence],
        ..Checks::default()
    };
    failed_with(
        run_lines(&checks, &slow),
        "[beta] heartbeat period is 1250000 ticks (median of 4 gaps), not within 10% of the nominal 625000",
    );
    let near = beats("beta", 1, 0, &steady(9, 680_000));
    assert_eq!(run_lines(&checks, &near), Progress::Satisfied);
}

#[test]
fn cadence_sequence_skip_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=1000", "[beta] hb 3 t=1050"]),
        "3 follows 1 (expected 2)",
    );
}

#[test]
fn cadence_restart_of_the_watched_partition_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10)],
        ..Checks::default()
    };
    failed_with(
        run(
            &checks,
            &[
                "[beta] hb 5 t=1000",
                "[beta] hello beta",
                "[beta] hb 0 t=1010",
            ],
        ),
        "0 follows 5",
    );
}

#[test]
fn cadence_counter_going_backwards_or_standing_still_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=1000", "[beta] hb 2 t=999"]),
        "backwards",
    );
    failed_with(
        run(&checks, &["[beta] hb 1 t=1000", "[beta] hb 2 t=1000"]),
        "did not advance: heartbeats 1 and 2 both at t=1000",
    );
}

#[test]
fn cadence_unparsable_counter_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=soon"]),
        "t=`soon` is not a number",
    );
}

#[test]
fn cadence_after_event_needs_beats_after_it() {
    let mut cadence = heartbeat("beta", 5);
    cadence.after = Some(re("partition alpha faulted"));
    cadence.min_after = 2;
    let checks = Checks {
        cadence: vec![cadence],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    for line in &beats("beta", 1, 10, &steady(5, 10)) {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    assert!(
        checker
            .missing()
            .contains("never seen (6 heartbeats before it)"),
        "{}",
        checker.missing()
    );
    assert_eq!(
        checker.line("WARN  partition alpha faulted: stage-2 abort"),
        Progress::Pending
    );
    assert_eq!(checker.line("[beta] hb 7 t=70"), Progress::Pending);
    assert!(
        checker.missing().contains("1 of 2 heartbeats after"),
        "{}",
        checker.missing()
    );
    assert_eq!(checker.line("[beta] hb 8 t=80"), Progress::Satisfied);
}

#[test]
fn heartbeat_stopping_after_the_event_is_not_satisfied() {
    let mut cadence = heartbeat("beta", 5);
    cadence.after = Some(re("restarted \\(5\\)"));
    cadence.min_after = 1;
    let checks = Checks {
        cadence: vec![cadence],
        ..Checks::default()
    };
    let mut transcript = beats("beta", 1, 10, &steady(5, 10));
    transcript.push("INFO  partition alpha restarted (5)".into());
    transcript.push("[alpha] hb 0 t=0".into());
    assert_eq!(run_lines(&checks, &transcript), Progress::Pending);
}

#[test]
fn everything_together() {
    let checks = Checks {
        expect: vec![
            expect("alpha", &["^hello"]),
            expect(HYPERVISOR, &["partition alpha started"]),
        ],
        never: vec![re("PANIC")],
        cadence: vec![heartbeat("alpha", 5)],
    };
    let mut checker = Checker::new(&checks);
    assert_eq!(
        checker.line("INFO  partition alpha started"),
        Progress::Pending
    );
    assert_eq!(
        checker.line("[alpha] hello alpha id=0 vcpus=1 mem=0x50000000+0x1000000"),
        Progress::Pending
    );
    for line in &beats("alpha", 0, 100, &steady(3, 50)) {
        assert_eq!(checker.line(line), Progress::Pending, "{line}");
    }
    assert_eq!(checker.line("[alpha] hb 4 t=300"), Progress::Satisfied);
    assert_eq!(checker.missing(), "");
}

#[test]
fn numbers_parse_in_decimal_and_hex() {
    assert_eq!(parse_number("42"), Some(42));
    assert_eq!(parse_number("0x2a"), Some(42));
    assert_eq!(parse_number("0X2A"), Some(42));
    assert_eq!(parse_number("-1"), None);
    assert_eq!(parse_number(""), None);
}

#[test]
fn a_boot_refusal_fails_every_scenario() {
    let checks = Checks {
        expect: vec![expect("alpha", &["^hello alpha"])],
        ..Checks::default()
    };
    let transcript = [
        "ERROR boot failed: config: /partitions/alpha: kernel: \"x\" is empty",
        "bulkhead: boot failed (see the log above); nothing started",
    ];
    failed_with(run(&checks, &transcript), "the hypervisor refused to boot");
}

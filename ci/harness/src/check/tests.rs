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

fn heartbeat(partition: &str, min_count: u64, max_gap: u64) -> Cadence {
    Cadence {
        partition: partition.into(),
        pattern: re(r"^hb (?P<n>\d+) t=(?P<t>\S+)"),
        min_count,
        max_gap,
        after: None,
        min_after: 0,
    }
}

/// Feeds every line and returns the last progress.
fn run(checks: &Checks, transcript: &[&str]) -> Progress {
    let mut checker = Checker::new(checks);
    transcript
        .iter()
        .fold(Progress::Pending, |_, line| checker.line(line))
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
        cadence: vec![heartbeat("beta", 3, 100)],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    assert_eq!(checker.line("[beta] hb 7 t=1000"), Progress::Pending);
    assert_eq!(checker.line("[alpha] hb 0 t=0"), Progress::Pending);
    assert_eq!(checker.line("[beta] hb 8 t=1100"), Progress::Pending);
    assert!(
        checker.missing().contains("2 of 3 heartbeats"),
        "{}",
        checker.missing()
    );
    assert_eq!(checker.line("[beta] hb 9 t=0x4b0"), Progress::Satisfied);
    assert!(
        checker
            .summary()
            .contains("[beta] 3 heartbeats, largest gap 100 ticks"),
        "{}",
        checker.summary()
    );
}

#[test]
fn cadence_gap_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10, 100)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=1000", "[beta] hb 2 t=1101"]),
        "101 ticks after heartbeat 1 (max_gap 100)",
    );
}

#[test]
fn cadence_sequence_skip_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10, 100)],
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
        cadence: vec![heartbeat("beta", 10, 100)],
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
fn cadence_counter_going_backwards_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10, 100)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=1000", "[beta] hb 2 t=999"]),
        "backwards",
    );
}

#[test]
fn cadence_unparsable_counter_fails() {
    let checks = Checks {
        cadence: vec![heartbeat("beta", 10, 100)],
        ..Checks::default()
    };
    failed_with(
        run(&checks, &["[beta] hb 1 t=soon"]),
        "t=`soon` is not a number",
    );
}

#[test]
fn cadence_after_event_needs_beats_after_it() {
    let mut cadence = heartbeat("beta", 2, 100);
    cadence.after = Some(re("partition alpha faulted"));
    cadence.min_after = 2;
    let checks = Checks {
        cadence: vec![cadence],
        ..Checks::default()
    };
    let mut checker = Checker::new(&checks);
    for (i, line) in ["[beta] hb 1 t=10", "[beta] hb 2 t=20", "[beta] hb 3 t=30"]
        .iter()
        .enumerate()
    {
        assert_eq!(checker.line(line), Progress::Pending, "line {i}");
    }
    assert!(
        checker
            .missing()
            .contains("never seen (3 heartbeats before it)"),
        "{}",
        checker.missing()
    );
    assert_eq!(
        checker.line("WARN  partition alpha faulted: stage-2 abort"),
        Progress::Pending
    );
    assert_eq!(checker.line("[beta] hb 4 t=40"), Progress::Pending);
    assert!(
        checker.missing().contains("1 of 2 heartbeats after"),
        "{}",
        checker.missing()
    );
    assert_eq!(checker.line("[beta] hb 5 t=50"), Progress::Satisfied);
}

#[test]
fn heartbeat_stopping_after_the_event_is_not_satisfied() {
    let mut cadence = heartbeat("beta", 2, 100);
    cadence.after = Some(re("restarted \\(5\\)"));
    cadence.min_after = 1;
    let checks = Checks {
        cadence: vec![cadence],
        ..Checks::default()
    };
    let transcript = [
        "[beta] hb 1 t=10",
        "[beta] hb 2 t=20",
        "INFO  partition alpha restarted (5)",
        "[alpha] hb 0 t=0",
    ];
    assert_eq!(run(&checks, &transcript), Progress::Pending);
}

#[test]
fn everything_together() {
    let checks = Checks {
        expect: vec![
            expect("alpha", &["^hello"]),
            expect(HYPERVISOR, &["partition alpha started"]),
        ],
        never: vec![re("PANIC")],
        cadence: vec![heartbeat("alpha", 2, 50)],
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
    assert_eq!(checker.line("[alpha] hb 0 t=100"), Progress::Pending);
    assert_eq!(checker.line("[alpha] hb 1 t=150"), Progress::Satisfied);
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

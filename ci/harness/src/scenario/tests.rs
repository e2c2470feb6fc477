//! Scenario files: the valid form, each rejection, and the repository's own scenarios.

use super::*;

fn parse_all(text: &str) -> Result<Vec<Scenario>, String> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    build(raw, Path::new("ci/scenarios/demo.toml"), "demo")
}

fn parse(text: &str) -> Result<Scenario, String> {
    parse_all(text).map(|mut all| all.remove(0))
}

const VALID: &str = r#"
name = "demo"
board = "qemu-virt-arm64"
timeout = 60
never = ["(?i)panic"]

[[expect]]
source = "alpha"
lines = ["^hello alpha", "^hb 5 "]

[[cadence]]
partition = "beta"
pattern = '^hb (?P<n>\d+) t=(?P<t>\d+)'
min_count = 20
period = 625000
after = "partition alpha faulted"
"#;

fn rejected(text: &str, needle: &str) {
    match parse(text) {
        Err(e) => assert!(e.contains(needle), "error `{e}` lacks `{needle}`"),
        Ok(s) => panic!("accepted, expected an error about `{needle}`: {s:?}"),
    }
}

#[test]
fn valid_file_with_defaults() {
    let s = parse(VALID).unwrap();
    assert_eq!(s.name, "demo");
    assert_eq!(s.config, PathBuf::from("boards/qemu-virt-arm64/config.dts"));
    assert_eq!(s.timeout, Duration::from_secs(60));
    assert!(s.qemu_extra.is_empty());
    assert_eq!(s.checks.expect[0].lines.len(), 2);
    let cadence = &s.checks.cadence[0];
    assert_eq!(cadence.min_after, 3, "min_after defaults to 3");
    assert_eq!(cadence.max_periods, 1.5, "max_periods defaults to 1.5");
    assert_eq!(cadence.period, Some(625000));
    let s = parse(&VALID.replace("period = 625000", "max_periods = 1.25")).unwrap();
    assert_eq!(s.checks.cadence[0].max_periods, 1.25);
    assert_eq!(s.checks.cadence[0].period, None, "period is optional");
}

#[test]
fn a_list_of_boards_gives_one_scenario_per_board() {
    let text = VALID.replace("board = \"qemu-virt-arm64\"", "board = [\"bochs-x86_64\", \"qemu-q35-x86_64\"]");
    let all = parse_all(&text).unwrap();
    let names: Vec<_> = all.iter().map(|s| (s.name.as_str(), s.board.as_str())).collect();
    assert_eq!(names, [("demo@bochs-x86_64", "bochs-x86_64"), ("demo@qemu-q35-x86_64", "qemu-q35-x86_64")]);
    assert_eq!(all[1].config, PathBuf::from("boards/qemu-q35-x86_64/config.dts"), "each board's default config");
    rejected(&VALID.replace("board = \"qemu-virt-arm64\"", "board = []"), "board");
}

#[test]
fn explicit_config_and_extra_args() {
    let text = VALID.replace("timeout = 60", "timeout = 60\nconfig = \"ci/scenarios/configs/x.dts\"\nqemu_extra = [\"-icount\", \"shift=0\"]");
    let s = parse(&text).unwrap();
    assert_eq!(s.config, PathBuf::from("ci/scenarios/configs/x.dts"));
    assert_eq!(s.qemu_extra, ["-icount", "shift=0"]);
}

#[test]
fn disks_are_parsed_and_checked() {
    let with_disk = |path: &str| {
        let extra = "timeout = 60\nqemu_extra = [\"-drive\", \"file=target/d.img,if=none,id=d0\"]";
        let disk = format!("\n[[disk]]\npath = \"{path}\"\nfiles = {{ \"a.txt\" = \"hello\" }}\n");
        VALID.replace("timeout = 60", extra) + &disk
    };
    let s = parse(&with_disk("target/d.img")).unwrap();
    assert_eq!(s.disks.len(), 1);
    assert_eq!(s.disks[0].size_mib, 4, "size_mib defaults to 4");
    assert_eq!(s.disks[0].files["a.txt"], "hello");
    rejected(&with_disk("/tmp/d.img"), "disk[0].path");
    rejected(&with_disk("target/e.img"), "is not attached");
    rejected(
        &with_disk("target/d.img").replace("files =", "size = 3\nfiles ="),
        "unknown field `size`",
    );
}

#[test]
fn unknown_field_is_rejected() {
    rejected(
        &VALID.replace("timeout = 60", "timeout = 60\ntimout = 5"),
        "unknown field `timout`",
    );
    rejected(&VALID.replace("period", "period_ticks"), "period_ticks");
    // The old absolute limit is gone: a file still using it is refused, not ignored.
    rejected(
        &VALID.replace("period = 625000", "max_gap = 6250000"),
        "unknown field `max_gap`",
    );
}

#[test]
fn name_must_match_the_file() {
    rejected(
        &VALID.replace("name = \"demo\"", "name = \"other\""),
        "must equal the file name `demo`",
    );
}

#[test]
fn bad_regex_names_its_field() {
    rejected(&VALID.replace("^hb 5 ", "^hb ("), "expect[0].lines[1]");
    rejected(&VALID.replace("(?i)panic", "(?"), "never[0]");
}

#[test]
fn cadence_pattern_needs_both_groups() {
    rejected(
        &VALID.replace("(?P<t>\\d+)", "\\d+"),
        "needs a named group (?P<t>",
    );
}

#[test]
fn cadence_limits_are_checked() {
    rejected(
        &VALID.replace("min_count = 20", "min_count = 4"),
        "cadence[0].min_count: 4 heartbeats cannot measure a period (4 gaps); use 5 or more",
    );
    assert!(parse(&VALID.replace("min_count = 20", "min_count = 5")).is_ok());
    // A limit of 2 periods or more lets a lost beat pass; 1 or less fails plain jitter.
    for bad in ["2.0", "2.5", "1.0", "0.5", "nan", "inf"] {
        rejected(
            &VALID.replace("period = 625000", &format!("max_periods = {bad}")),
            "cadence[0].max_periods",
        );
    }
    rejected(
        &VALID.replace("period = 625000", "max_periods = 2"),
        "max_periods",
    );
    rejected(
        &VALID.replace("period = 625000", "period = 0"),
        "cadence[0].period: must be positive",
    );
    let no_after = VALID.replace("after = \"partition alpha faulted\"", "min_after = 2");
    rejected(&no_after, "min_after: only meaningful with `after`");
}

#[test]
fn a_scenario_that_checks_nothing_is_rejected() {
    rejected(
        "name = \"demo\"\nboard = \"b\"\ntimeout = 5\nnever = [\"x\"]",
        "at least one",
    );
    rejected(
        "name = \"demo\"\nboard = \"b\"\ntimeout = 5\n[[expect]]\nsource = \"a\"\nlines = []",
        "empty",
    );
}

#[test]
fn a_doubled_backslash_from_toml_quoting_is_refused() {
    // In a literal string this is the regex `\\bFAIL\\b`, which can never match.
    rejected(&VALID.replace("never = [\"(?i)panic\"]", "never = ['\\\\bFAIL\\\\b']"), "literal backslash");
    rejected(&VALID.replace("never = [\"(?i)panic\"]", "never = ['^\\\\[beta\\\\] up']"), "literal backslash");
    assert!(parse(&VALID.replace("never = [\"(?i)panic\"]", "never = ['\\bFAIL\\b']")).is_ok());
}

#[test]
fn timeout_and_config_are_checked() {
    rejected(&VALID.replace("timeout = 60", "timeout = 0"), "timeout");
    rejected(&VALID.replace("timeout = 60", "timeout = 6000"), "timeout");
    rejected(
        &VALID.replace("timeout = 60", "timeout = 60\nconfig = \"/etc/x.dts\""),
        "relative",
    );
}

#[test]
fn repository_scenarios_load_and_their_configs_exist() {
    let root = crate::repo_root();
    let scenarios = load_scenarios(&root.join("ci/scenarios")).unwrap();
    assert!(scenarios.len() >= 13, "only {} scenarios", scenarios.len());
    for s in &scenarios {
        assert!(!s.description.is_empty(), "{}: no description", s.name);
        if s.config.starts_with("ci") {
            assert!(
                root.join(&s.config).is_file(),
                "{}: config {} missing",
                s.name,
                s.config.display()
            );
        }
    }
}

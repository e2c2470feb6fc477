//! `cargo bh test`: host tests, then scenarios, then one `N passed, M failed` line.

use std::io::{BufRead, BufReader};
use std::ops::AddAssign;
use std::process::{ExitCode, Stdio};

use bulkhead_harness::ScenarioResult;

use super::progress;
use crate::cli::TestArgs;
use crate::error::{Context, Error, Result};
use crate::{out, process};

/// Test counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were not run (`#[ignore]`).
    pub skipped: u64,
}

impl AddAssign for Totals {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl Totals {
    /// The closing line: `N passed, M failed` (`, K skipped` when some were).
    pub fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// `cargo bh test`: ends with the `N passed, M failed` line.
pub fn run(args: &TestArgs) -> Result<ExitCode> {
    // clap refuses both flags together.
    let (host_only, scenarios_only) = (args.host_only, args.scenarios_only);
    let filter = args.filter.as_deref();
    let mut totals = Totals::default();
    if !scenarios_only {
        totals += host_tests(filter)?;
        totals += target_builds()?;
    }
    if !host_only && !scenarios_only {
        totals += benchmarks()?;
    }
    if !host_only {
        totals += scenarios(filter)?;
    }
    out::line(totals.summary())?;
    Ok(if totals.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cargo test` over the workspace's default members, its output passed through and its
/// `test result:` lines added up. A cargo failure without a failing test (a build
/// error) counts as one failure.
fn host_tests(filter: Option<&str>) -> Result<Totals> {
    progress("test", "host: cargo test");
    let mut cmd = process::cargo();
    cmd.args(["test", "--no-fail-fast"]);
    if let Some(filter) = filter {
        cmd.args(["--", filter]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| process::spawn_error(&cmd, e))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context(|| "reading cargo test's output".to_string())?;
            out::line(&line)?;
            totals += parse_result_line(&line).unwrap_or_default();
        }
    }
    let status = child
        .wait()
        .context(|| "waiting for cargo test".to_string())?;
    if !status.success() && totals.failed == 0 {
        progress(
            "test",
            format!("cargo test failed ({status}) without a failing test: counted as one failure"),
        );
        totals.failed += 1;
    }
    progress(
        "test",
        format!(
            "host: {} of {} passed",
            totals.passed,
            totals.passed + totals.failed
        ),
    );
    Ok(totals)
}

/// The no_std crates that must build for bare-metal targets (STYLE: core runs on the
/// host and on every target; boards and guests only on theirs).
const TARGET_BUILDS: &[(&str, &str)] = &[
    ("bulkhead-core", "aarch64-unknown-none"),
    ("bulkhead-core", "x86_64-unknown-none"),
    ("bulkhead-x86_64", "x86_64-unknown-none"),
    ("bulkhead-drivers", "aarch64-unknown-none"),
    ("bulkhead-qemu-virt-arm64", "aarch64-unknown-none-softfloat"),
    ("bulkhead-bochs-x86_64", "x86_64-unknown-none"),
    ("bulkhead-testguest-aarch64", "aarch64-unknown-none"),
    ("bulkhead-testguest-x86_64", "x86_64-unknown-none"),
];

/// Builds each of [`TARGET_BUILDS`]; each build is one test case.
fn target_builds() -> Result<Totals> {
    let mut totals = Totals::default();
    for (package, target) in TARGET_BUILDS {
        progress("test", format!("build {package} for {target}"));
        let ok = process::cargo()
            .args(["build", "--release", "--quiet", "-p", package, "--target", target])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            totals.passed += 1;
        } else {
            out::line(format!("FAIL build {package} for {target}"))?;
            totals.failed += 1;
        }
    }
    Ok(totals)
}

/// Runs `cargo bh bench` (numbers printed, never judged): one test case that passes
/// when every benchmark run completed, so CI shows the table and a broken bench fails.
fn benchmarks() -> Result<Totals> {
    progress("test", "benchmarks (cargo bh bench)");
    let ran = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).arg("bench").status())
        .is_ok_and(|s| s.success());
    if !ran {
        out::line("FAIL bench: a benchmark run broke (its output is above)")?;
    }
    Ok(Totals { passed: u64::from(ran), failed: u64::from(!ran), skipped: 0 })
}

/// The counts in a libtest summary line:
/// `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; …`.
pub fn parse_result_line(line: &str) -> Option<Totals> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut totals = Totals::default();
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => totals.passed = n,
            "failed" => totals.failed = n,
            "ignored" => totals.skipped = n,
            _ => {}
        }
    }
    Some(totals)
}

/// Runs the emulator scenarios, printing a line as each finishes (`3/40 PASS name (1.2 s)`).
fn scenarios(filter: Option<&str>) -> Result<Totals> {
    let count = scenario_count(filter);
    progress(
        "test",
        format!("scenarios: {count} to run, one line each as it ends (the first one of a board builds its image)"),
    );
    let mut done = 0;
    let results = bulkhead_harness::run_all_with(filter, |r| {
        done += 1;
        let line = format!("{done:>width$}/{count} {}", scenario_line(r), width = count.to_string().len());
        if let Err(err) = out::line(line) {
            // The harness would go on to the next scenario: nobody reads the results
            // any more, and between two scenarios no emulator is left to stop.
            if err == Error::BrokenPipe {
                std::process::exit(i32::from(out::BROKEN_PIPE_STATUS));
            }
        }
    });
    let mut totals = Totals::default();
    for result in &results {
        if result.passed {
            totals.passed += 1;
        } else {
            totals.failed += 1;
        }
    }
    Ok(totals)
}

/// How many scenarios `filter` selects (what the harness will run; 1 when none or the
/// files cannot be read, as the harness then reports one failure).
fn scenario_count(filter: Option<&str>) -> usize {
    let all = bulkhead_harness::load_scenarios(&bulkhead_harness::scenario_dir()).unwrap_or_default();
    let selected = all.iter().filter(|s| filter.is_none_or(|f| s.name.contains(f))).count();
    selected.max(1)
}

/// `PASS name  (1.2 s)`, plus the indented detail of a failure.
fn scenario_line(result: &ScenarioResult) -> String {
    let verdict = if result.passed { "PASS" } else { "FAIL" };
    let mut line = format!("{verdict} {}  ({:.1} s)", result.name, result.seconds);
    if !result.passed {
        for detail in result.detail.lines() {
            line.push_str("\n     ");
            line.push_str(detail);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libtest_summaries() {
        let ok = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_result_line(ok),
            Some(Totals {
                passed: 12,
                failed: 0,
                skipped: 1
            })
        );
        let bad = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(
            parse_result_line(bad),
            Some(Totals {
                passed: 3,
                failed: 2,
                skipped: 0
            })
        );
        assert_eq!(parse_result_line("test foo ... ok"), None);
    }

    #[test]
    fn summary_line_has_the_contract_form() {
        let mut totals = Totals {
            passed: 5,
            failed: 1,
            skipped: 0,
        };
        assert_eq!(totals.summary(), "5 passed, 1 failed");
        totals += Totals {
            passed: 1,
            failed: 0,
            skipped: 2,
        };
        assert_eq!(totals.summary(), "6 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn failed_scenarios_show_their_detail() {
        let result = ScenarioResult {
            name: "boot".into(),
            passed: false,
            seconds: 2.25,
            detail: "timeout\nlast: x".into(),
        };
        assert_eq!(
            scenario_line(&result),
            "FAIL boot  (2.2 s)\n     timeout\n     last: x"
        );
    }
}

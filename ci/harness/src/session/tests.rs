//! The process side with a fake emulator (`sh -c SCRIPT`): early kill on success, every
//! way a run fails, the argument order and the transcript files.

use std::sync::atomic::{AtomicUsize, Ordering};

use regex::Regex;

use super::*;
use crate::check::{Checks, Expect};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A scratch repository root holding `boards/fake/board.toml` whose emulator runs `script`.
fn fake_root(script: &str) -> Scratch {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let root = std::env::temp_dir().join(format!("bulkhead-harness-{}-{n}", std::process::id()));
    let board = root.join("boards/fake");
    std::fs::create_dir_all(&board).unwrap();
    let command = toml::Value::Array(["sh", "-c", script, "fake-qemu"].map(|s| s.into()).to_vec());
    std::fs::write(board.join("board.toml"), format!("qemu = {command}\n")).unwrap();
    Scratch(root)
}

fn scenario(timeout_secs: u64, expect: &[&str], never: &[&str]) -> Scenario {
    let re = |p: &&str| Regex::new(p).unwrap();
    Scenario {
        name: "fake".into(),
        description: String::new(),
        file: PathBuf::from("ci/scenarios/fake.toml"),
        board: "fake".into(),
        config: PathBuf::from("boards/fake/config.dts"),
        timeout: Duration::from_secs(timeout_secs),
        qemu_extra: vec!["-extra".into()],
        disks: vec![],
        checks: Checks {
            expect: vec![Expect {
                source: "alpha".into(),
                lines: expect.iter().map(re).collect(),
            }],
            never: never.iter().map(re).collect(),
            cadence: vec![],
        },
    }
}

fn image() -> Image {
    Image {
        path: PathBuf::from("/images/demo"),
        elf: None,
        build_seconds: 0.0,
    }
}

/// Runs `script` as the emulator; returns the verdict, the detail and the wall time.
fn run_fake(script: &str, scenario: &Scenario) -> (bool, String, f64, Scratch) {
    let root = fake_root(script);
    let started = Instant::now();
    let (passed, detail) = run(&root.0, scenario, &image());
    (passed, detail, started.elapsed().as_secs_f64(), root)
}

#[test]
fn success_kills_the_emulator_at_once() {
    let script = "printf '[alpha] hello\\r\\n[alpha] PASS x\\n'; exec sleep 30";
    let (passed, detail, secs, root) =
        run_fake(script, &scenario(20, &["^hello", "^PASS x$"], &[]));
    assert!(passed, "{detail}");
    assert!(
        secs < 10.0,
        "took {secs} s: the emulator was not killed on success"
    );
    assert!(detail.starts_with("passed in"), "{detail}");
    let log = std::fs::read_to_string(root.0.join("target/scenarios/fake.log")).unwrap();
    assert!(
        log.contains("[alpha] PASS x\n") && log.contains("# result: passed"),
        "{log}"
    );
    let raw = std::fs::read(root.0.join("target/scenarios/fake.serial")).unwrap();
    assert!(raw.starts_with(b"[alpha] hello\r\n"), "{raw:?}");
}

#[test]
fn emulator_gets_board_command_then_kernel_then_extras() {
    let script = "echo \"[alpha] args $*\"; exec sleep 30";
    let (passed, detail, ..) = run_fake(
        script,
        &scenario(20, &["^args -kernel /images/demo -extra$"], &[]),
    );
    assert!(passed, "{detail}");
}

#[test]
fn disks_are_made_before_the_emulator_starts() {
    let path = "target/scenarios/disks/fake.img";
    let script = format!("test -s {path} && echo '[alpha] disk ready'; exec sleep 30");
    let mut s = scenario(20, &["^disk ready$"], &[]);
    let files = [("a.txt".to_string(), "x".to_string())].into();
    s.disks = vec![crate::disk::Disk::new(0, path, 1, files, &[path.into()]).unwrap()];
    let (passed, detail, ..) = run_fake(&script, &s);
    assert!(passed, "{detail}");
}

#[test]
fn forbidden_line_fails_even_before_success() {
    let script = "printf 'PANIC at x\\n[alpha] PASS x\\n'; exec sleep 30";
    let (passed, detail, secs, _) = run_fake(script, &scenario(20, &["^PASS"], &["PANIC"]));
    assert!(!passed);
    assert!(detail.contains("forbidden /PANIC/: PANIC at x"), "{detail}");
    assert!(secs < 10.0, "took {secs} s");
}

#[test]
fn exit_before_success_fails_with_the_last_output() {
    let script = "echo '[alpha] hello'; printf '[alpha] half a li'; echo 'qemu: oops' >&2; exit 3";
    let (passed, detail, ..) = run_fake(script, &scenario(20, &["^hello", "^PASS"], &[]));
    assert!(!passed);
    assert!(
        detail.contains("the emulator exited (exit status: 3) before the checks were met"),
        "{detail}"
    );
    assert!(
        detail.contains("[alpha] never printed /^PASS/ (after 1 of 2"),
        "{detail}"
    );
    assert!(
        detail.contains("[alpha] hello\n[alpha] half a li"),
        "{detail}"
    );
    assert!(
        detail.contains("--- emulator stderr ---\nqemu: oops"),
        "{detail}"
    );
}

#[test]
fn hang_is_a_timeout_with_the_last_output() {
    let script = "echo '[alpha] hb 1'; exec sleep 30";
    let (passed, detail, secs, _) = run_fake(script, &scenario(1, &["^PASS"], &[]));
    assert!(!passed);
    assert!(detail.starts_with("timed out after 1 s"), "{detail}");
    assert!(detail.contains("[alpha] hb 1"), "{detail}");
    assert!(secs < 10.0, "took {secs} s");
}

#[test]
fn missing_emulator_is_named() {
    let root = fake_root("unused");
    std::fs::write(
        root.0.join("boards/fake/board.toml"),
        "qemu = [\"bulkhead-no-such-emulator\"]\n",
    )
    .unwrap();
    let (passed, detail) = run(&root.0, &scenario(5, &["x"], &[]), &image());
    assert!(!passed);
    assert!(
        detail.contains("emulator `bulkhead-no-such-emulator` not found"),
        "{detail}"
    );
}

#[test]
fn board_without_emulator_is_an_error() {
    let root = fake_root("unused");
    std::fs::write(
        root.0.join("boards/fake/board.toml"),
        "arch = \"aarch64\"\n",
    )
    .unwrap();
    let (passed, detail) = run(&root.0, &scenario(5, &["x"], &[]), &image());
    assert!(!passed);
    assert!(detail.contains("qemu: missing or empty"), "{detail}");
}

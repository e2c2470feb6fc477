//! One emulator run: spawn QEMU, read its serial output as it comes, check it, kill QEMU.
//!
//! The scenario ends as soon as its checks are satisfied or one fails; QEMU exiting
//! first or the timeout passing is a failure. Nothing here sleeps to wait for output.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::check::{Checker, Progress};
use crate::image::Image;
use crate::log::Decoder;
use crate::scenario::Scenario;
use crate::tail;

/// Lines of output kept for a failure report.
const TAIL_LINES: usize = 40;
/// How long to wait for the rest of a killed emulator's stderr.
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// How a run ended.
enum End {
    Satisfied,
    Failed(String),
    Exited(Option<ExitStatus>),
    TimedOut,
}

/// Boots `image` for `scenario`; returns whether it passed and the detail.
pub fn run(root: &Path, scenario: &Scenario, image: &Image) -> (bool, String) {
    match boot(root, scenario, image) {
        Ok(outcome) => outcome,
        Err(e) => (false, e),
    }
}

fn boot(root: &Path, scenario: &Scenario, image: &Image) -> Result<(bool, String), String> {
    let mut argv = qemu_command(root, &scenario.board)?;
    argv.extend(["-kernel".to_string(), image.path.display().to_string()]);
    argv.extend(scenario.qemu_extra.iter().cloned());
    let mut decoder = decoder_for(image)?;
    let mut transcript = Transcript::open(root, &scenario.name, &argv)?;
    for disk in &scenario.disks {
        disk.make(root)?;
    }
    let mut emulator = spawn(root, &argv)?;
    let started = Instant::now();
    let mut checker = Checker::new(&scenario.checks);
    let end = watch(&mut emulator, started + scenario.timeout, &mut |bytes| {
        transcript.raw(bytes);
        let lines = match bytes {
            [] => decoder.finish().into_iter().collect(),
            _ => decoder.feed(bytes),
        };
        lines
            .iter()
            .map(|line| {
                transcript.line(line);
                checker.line(line)
            })
            .last()
    });
    let stderr = emulator.stop();
    if let (false, Some(partial)) = (matches!(end, End::Satisfied), decoder.finish()) {
        transcript.line(&format!("{partial} <no newline: output stopped here>"));
    }
    let (passed, reason) = verdict(end, started, &checker, scenario);
    transcript.finish(&reason);
    if passed {
        return Ok((true, reason));
    }
    Ok((
        false,
        failure_detail(&reason, &checker, &transcript, &stderr),
    ))
}

/// Whether the run passed, and its one-line reason.
fn verdict(
    end: End,
    started: Instant,
    checker: &Checker<'_>,
    scenario: &Scenario,
) -> (bool, String) {
    match end {
        End::Satisfied => {
            let seconds = started.elapsed().as_secs_f64();
            (
                true,
                format!("passed in {seconds:.1} s: {}", checker.summary()),
            )
        }
        End::Failed(reason) => (false, reason),
        End::Exited(status) => {
            let status = describe(status);
            (
                false,
                format!("QEMU exited ({status}) before the checks were met"),
            )
        }
        End::TimedOut => {
            let secs = scenario.timeout.as_secs();
            (false, format!("timed out after {secs} s"))
        }
    }
}

/// Reads output until the checks decide, QEMU exits or the deadline passes. `on_bytes`
/// gets each chunk (an empty chunk at end of stream) and returns the progress after its
/// last complete line, if it completed one.
fn watch(
    emulator: &mut Emulator,
    deadline: Instant,
    on_bytes: &mut dyn FnMut(&[u8]) -> Option<Progress>,
) -> End {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (progress, eof) = match emulator.stdout.recv_timeout(left) {
            Ok(bytes) => (on_bytes(&bytes), false),
            Err(RecvTimeoutError::Timeout) => return End::TimedOut,
            Err(RecvTimeoutError::Disconnected) => (on_bytes(&[]), true),
        };
        match progress {
            Some(Progress::Satisfied) => return End::Satisfied,
            Some(Progress::Failed(reason)) => return End::Failed(reason),
            _ if eof => return End::Exited(emulator.reap(deadline)),
            _ => {}
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "status unknown".into(), |s| s.to_string())
}

/// The board's emulator command for scenarios: `qemu` in `boards/<board>/board.toml`
/// followed by its `scenario_qemu` arguments (deterministic time: with `-icount` the
/// guests' timers run on instructions, so a loaded host cannot fake a heartbeat gap;
/// QEMU's own round-robin of the vCPUs still can, see doc/testing.md, "Cadence").
fn qemu_command(root: &Path, board: &str) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Board {
        qemu: Option<Vec<String>>,
        #[serde(default)]
        scenario_qemu: Vec<String>,
    }
    let file = root.join("boards").join(board).join("board.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let parsed: Board = toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    match parsed.qemu {
        Some(mut argv) if !argv.is_empty() => {
            argv.extend(parsed.scenario_qemu);
            Ok(argv)
        }
        _ => Err(format!(
            "{}: qemu: missing or empty: this board has no emulator",
            file.display()
        )),
    }
}

/// A decoder for the image's hypervisor ELF; text-only when there is no ELF.
fn decoder_for(image: &Image) -> Result<Decoder, String> {
    let Some(elf) = &image.elf else {
        return Ok(Decoder::text_only());
    };
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    Decoder::new(&bytes).map_err(|e| format!("{}: {e}", elf.display()))
}

/// A running emulator and the channels its output arrives on.
struct Emulator {
    child: Child,
    /// stdout in chunks as read; closed at end of stream.
    stdout: Receiver<Vec<u8>>,
    /// All of stderr, sent once at its end.
    stderr: Receiver<String>,
}

impl Emulator {
    /// Waits for an emulator whose output has closed to exit (until the deadline).
    fn reap(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => return None,
            }
        }
        None
    }

    /// Kills the emulator (if still running) and returns its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Bounded: a grandchild that inherited stderr must not hang the harness.
        self.stderr.recv_timeout(STDERR_GRACE).unwrap_or_default()
    }
}

/// Starts the emulator with one reader thread for stdout and one for stderr.
fn spawn(root: &Path, argv: &[String]) -> Result<Emulator, String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "emulator `{}` not found: install it (scripts/setup)",
                argv[0]
            ),
            _ => format!("cannot start `{}`: {e}", argv[0]),
        })?;
    let stdout = child.stdout.take().ok_or("QEMU stdout not captured")?;
    let stderr = child.stderr.take().ok_or("QEMU stderr not captured")?;
    let (out_tx, out_rx) = mpsc::channel();
    thread::spawn(move || read_chunks(stdout, &out_tx));
    let (err_tx, err_rx) = mpsc::channel();
    thread::spawn(move || err_tx.send(read_all(stderr)));
    Ok(Emulator {
        child,
        stdout: out_rx,
        stderr: err_rx,
    })
}

fn read_chunks(mut stdout: ChildStdout, tx: &mpsc::Sender<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stdout.read(&mut buf) {
        if tx.send(buf[..n].to_vec()).is_err() {
            return;
        }
    }
}

fn read_all(mut stderr: ChildStderr) -> String {
    let mut bytes = Vec::new();
    let _ = stderr.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Why a scenario failed, what it still waited for, and the end of its output.
fn failure_detail(
    reason: &str,
    checker: &Checker<'_>,
    transcript: &Transcript,
    stderr: &str,
) -> String {
    let mut out = reason.to_string();
    let missing = checker.missing();
    if !missing.is_empty() {
        out.push_str(&format!(
            "\nstill waiting for:\n  {}",
            missing.replace('\n', "\n  ")
        ));
    }
    let lines: Vec<&str> = transcript.tail.iter().map(String::as_str).collect();
    out.push_str(&format!(
        "\n--- last {} lines (all: {}) ---\n{}",
        lines.len(),
        transcript.log_path.display(),
        lines.join("\n")
    ));
    if !stderr.trim().is_empty() {
        out.push_str(&format!("\n--- QEMU stderr ---\n{}", tail(stderr, 10)));
    }
    out
}

/// The human transcript (`target/scenarios/<name>.log`: decoded lines), the raw serial
/// bytes (`<name>.serial`, for re-decoding) and the last lines for the report.
struct Transcript {
    log_path: PathBuf,
    log: Option<BufWriter<File>>,
    raw: Option<BufWriter<File>>,
    tail: VecDeque<String>,
}

impl Transcript {
    fn open(root: &Path, name: &str, argv: &[String]) -> Result<Self, String> {
        let dir = root.join("target/scenarios");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let create = |ext: &str| {
            let path = dir.join(format!("{name}.{ext}"));
            File::create(&path)
                .map(BufWriter::new)
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        let mut log = create("log")?;
        let _ = writeln!(log, "# scenario {name}\n# {}", argv.join(" "));
        Ok(Self {
            log_path: dir.join(format!("{name}.log")),
            log: Some(log),
            raw: Some(create("serial")?),
            tail: VecDeque::new(),
        })
    }

    fn raw(&mut self, bytes: &[u8]) {
        if let Some(raw) = &mut self.raw {
            let _ = raw.write_all(bytes);
        }
    }

    fn line(&mut self, line: &str) {
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{line}");
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }

    fn finish(&mut self, verdict: &str) {
        if let Some(mut log) = self.log.take() {
            let _ = writeln!(
                log,
                "# result: {}",
                verdict.lines().next().unwrap_or_default()
            );
            let _ = log.flush();
        }
        if let Some(mut raw) = self.raw.take() {
            let _ = raw.flush();
        }
    }
}

#[cfg(test)]
mod tests;

//! One emulator run: spawn QEMU, read its serial output as it comes, check it, kill QEMU.
//!
//! The scenario ends as soon as its checks are satisfied or one fails; QEMU exiting
//! first or the timeout passing is a failure. Nothing here sleeps to wait for output.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::check::{Checker, Progress};
use crate::emulator::{self, Emulator};
use crate::image::Image;
use crate::log::Decoder;
use crate::scenario::Scenario;
use crate::tail;

/// Lines of output kept for a failure report.
const TAIL_LINES: usize = 40;
/// How often the emulator is checked for having exited while its console is quiet.
const EXIT_POLL: Duration = Duration::from_millis(50);

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
    let scratch = root.join("target/scenarios/run").join(&scenario.name);
    let launch = emulator::launch(root, &scenario.board, &image.path, &scenario.qemu_extra, true, &scratch)?;
    let mut decoder = decoder_for(image)?;
    let mut transcript = Transcript::open(root, &scenario.name, &launch.argv)?;
    for disk in &scenario.disks {
        disk.make(root)?;
    }
    let mut emulator = emulator::spawn(root, &launch)?;
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
                format!("the emulator exited ({status}) before the checks were met"),
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
        if left.is_zero() {
            return End::TimedOut;
        }
        let (progress, eof) = match emulator.serial.recv_timeout(left.min(EXIT_POLL)) {
            Ok(bytes) => (on_bytes(&bytes), false),
            Err(RecvTimeoutError::Timeout) => {
                // A console read from a file only ends once the exit is noticed.
                emulator.try_exit();
                continue;
            }
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

/// A decoder for the image's hypervisor ELF; text-only when there is no ELF.
fn decoder_for(image: &Image) -> Result<Decoder, String> {
    let Some(elf) = &image.elf else {
        return Ok(Decoder::text_only());
    };
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    Decoder::new(&bytes).map_err(|e| format!("{}: {e}", elf.display()))
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
        out.push_str(&format!("\n--- emulator stderr ---\n{}", tail(stderr, 10)));
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

//! One emulator run: start QEMU, read its serial output a line at a time, stop at a marker.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bulkhead_harness::log::Decoder;

use crate::error::{Error, Result};
use crate::process;

/// The machine every benchmark runs on: one Cortex-A53 at a 1 GHz counter, each
/// instruction one nanosecond of virtual time (`-icount shift=0`), time never
/// advancing while idle unless a timer is due (`sleep=off`). Deterministic.
pub const MACHINE: &[&str] = &[
    "-M",
    "virt,gic-version=3,virtualization=on,secure=off",
    "-cpu",
    "cortex-a53,cntfrq=1000000000",
    "-icount",
    "shift=0,sleep=off",
    "-smp",
    "1",
    "-m",
    "4G",
    "-nographic",
    "-no-reboot",
];

/// The emulator binary.
pub const QEMU: &str = "qemu-system-aarch64";

/// What a run printed.
pub struct Output {
    /// Every complete line, defmt frames decoded, `\r` and `\0` dropped.
    pub lines: Vec<String>,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
}

impl Output {
    /// The value of the first line `<prefix><value>` (value up to the first space).
    pub fn value(&self, prefix: &str) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
    }

    /// The last `n` lines, for an error message.
    pub fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        self.lines[start..].join("\n")
    }
}

/// `qemu-system-aarch64 <MACHINE> <args>`.
pub fn machine(args: &[&str]) -> Vec<String> {
    let mut argv = vec![QEMU.to_string()];
    argv.extend(MACHINE.iter().chain(args).map(|a| a.to_string()));
    argv
}

/// Runs `argv` until a line starts with `done` (then the emulator is killed), it
/// exits, or `timeout` passes (an error). `elf` decodes the hypervisor's defmt frames
/// when it has a console.
pub fn run(argv: &[String], elf: Option<&Path>, done: &str, timeout: Duration) -> Result<Output> {
    let mut decoder = match elf {
        Some(elf) => Decoder::new(&crate::error::read(elf)?).map_err(Error::new)?,
        None => Decoder::text_only(),
    };
    let (program, args) = argv.split_first().ok_or_else(|| Error::new("empty command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| process::spawn_error(&cmd, e))?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut stdout = child.stdout.take().ok_or_else(|| Error::new("no QEMU stdout"))?;
    let mut stderr = child.stderr.take().ok_or_else(|| Error::new("no QEMU stderr"))?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let outcome = loop {
        let left = timeout.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(bytes) => {
                lines.extend(decoder.feed(&bytes));
                if lines.iter().any(|l| l.starts_with(done)) {
                    break Ok(());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                lines.extend(decoder.finish());
                break Ok(());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(format!("no `{done}` line within {} s", timeout.as_secs()))
            }
        }
    };
    // QEMU has either exited already or is stopped here: a partition that powered off
    // leaves the hypervisor (and QEMU) running.
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    let output = Output {
        lines,
        seconds: started.elapsed().as_secs_f64(),
    };
    match outcome {
        Ok(()) if output.lines.iter().any(|l| l.starts_with(done)) => Ok(output),
        Ok(()) => Err(Error::new(format!(
            "{}: exited before a `{done}` line; last output:\n{}\n{}",
            argv.join(" "),
            output.tail(20),
            stderr.trim()
        ))),
        Err(why) => Err(Error::new(format!(
            "{}: {why}; last output:\n{}\n{}",
            argv.join(" "),
            output.tail(20),
            stderr.trim()
        ))),
    }
}

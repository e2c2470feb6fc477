//! Starting a board's emulator on an image and reading its serial console, for the
//! scenario runner and `cargo bh run` alike.
//!
//! `boards/<board>/board.toml` says which emulator: `emulator = "qemu"` (the default)
//! runs its `qemu` command with `-kernel <image>`, or `-cdrom <image>` for a board whose
//! `image_format` is `grub-iso` (plus `scenario_qemu` for scenarios), the serial console
//! on stdout; `emulator = "bochs"` runs Bochs on the board's
//! `bochsrc`, which names the image, the serial file and the log through the environment
//! variables `BX_ISO`, `BX_SERIAL` and `BX_LOG`, and the console is read from that file
//! as Bochs writes it. Extra arguments go to QEMU as arguments, to Bochs as extra
//! bochsrc lines.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the rest of a killed emulator's stderr.
const STDERR_GRACE: Duration = Duration::from_secs(2);
/// How often a serial file is polled for new bytes.
const POLL: Duration = Duration::from_millis(5);

/// The emulator-related fields of `board.toml` (the CLI reads the rest).
#[derive(serde::Deserialize)]
struct BoardRun {
    #[serde(default)]
    emulator: Option<String>,
    #[serde(default)]
    qemu: Option<Vec<String>>,
    #[serde(default)]
    scenario_qemu: Vec<String>,
    #[serde(default)]
    bochsrc: Option<String>,
    #[serde(default)]
    image_format: Option<String>,
}

/// An emulator command ready to start.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The file the serial console is written to; `None`: stdout.
    pub serial: Option<PathBuf>,
    /// The emulator's own log (Bochs), shown when a run fails.
    pub log: Option<PathBuf>,
}

/// The command that boots `image` on `board` (`scenario`: with the scenario-only
/// arguments), its files in `scratch` (created).
pub fn launch(root: &Path, board: &str, image: &Path, extra: &[String], scenario: bool, scratch: &Path) -> Result<Launch, String> {
    let file = root.join("boards").join(board).join("board.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let parsed: BoardRun = toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    match parsed.emulator.as_deref().unwrap_or("qemu") {
        "qemu" => {
            let Some(mut argv) = parsed.qemu.filter(|a| !a.is_empty()) else {
                return Err(format!("{}: qemu: missing or empty: this board has no emulator", file.display()));
            };
            if scenario {
                argv.extend(parsed.scenario_qemu);
            }
            let how = if parsed.image_format.as_deref() == Some("grub-iso") { "-cdrom" } else { "-kernel" };
            argv.extend([how.to_string(), image.display().to_string()]);
            argv.extend(extra.iter().cloned());
            Ok(Launch { argv, env: Vec::new(), serial: None, log: None })
        }
        "bochs" => {
            let rc = parsed.bochsrc.ok_or_else(|| format!("{}: bochsrc: missing", file.display()))?;
            std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
            let (serial, log, cont) = (scratch.join("serial"), scratch.join("bochs.log"), scratch.join("continue.rc"));
            // Bochs's debugger build stops at its prompt: its rc file says go on, then quit.
            std::fs::write(&cont, "continue\nquit\n").map_err(|e| format!("{}: {e}", cont.display()))?;
            let _ = std::fs::remove_file(&serial);
            let bochsrc = root.join("boards").join(board).join(rc);
            let mut argv = vec!["bochs".to_string(), "-q".into(), "-f".into(), bochsrc.display().to_string()];
            argv.extend(["-rc".into(), cont.display().to_string()]);
            argv.extend(extra.iter().cloned());
            let env = vec![
                ("BX_ISO".to_string(), image.display().to_string()),
                ("BX_SERIAL".to_string(), serial.display().to_string()),
                ("BX_LOG".to_string(), log.display().to_string()),
                // Bochs's terminal display needs a terminal type; it draws on its own pty.
                ("TERM".to_string(), "dumb".to_string()),
            ];
            Ok(Launch { argv, env, serial: Some(serial), log: Some(log) })
        }
        other => Err(format!("{}: emulator: `{other}` is neither \"qemu\" nor \"bochs\"", file.display())),
    }
}

/// A running emulator and the channels its console and diagnostics arrive on.
pub struct Emulator {
    child: Child,
    /// The serial console in chunks as read; closed at end of stream.
    pub serial: Receiver<Vec<u8>>,
    /// All of stderr, sent once at its end.
    stderr: Receiver<String>,
    /// Set when the emulator has exited (a serial file reader then drains and stops).
    exited: Arc<AtomicBool>,
    log: Option<PathBuf>,
}

/// Starts `launch` from `root`.
pub fn spawn(root: &Path, launch: &Launch) -> Result<Emulator, String> {
    let program = &launch.argv[0];
    let mut command = Command::new(program);
    command.args(&launch.argv[1..]).current_dir(root).stdin(Stdio::null()).stderr(Stdio::piped());
    command.envs(launch.env.iter().map(|(k, v)| (k, v)));
    command.stdout(if launch.serial.is_some() { Stdio::null() } else { Stdio::piped() });
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("emulator `{program}` not found: install it (scripts/setup)"),
        _ => format!("cannot start `{program}`: {e}"),
    })?;
    let exited = Arc::new(AtomicBool::new(false));
    let (out_tx, out_rx) = mpsc::channel();
    match &launch.serial {
        None => {
            let stdout = child.stdout.take().ok_or("stdout not captured")?;
            thread::spawn(move || read_chunks(stdout, &out_tx));
        }
        Some(path) => {
            let (path, done) = (path.clone(), exited.clone());
            thread::spawn(move || tail_file(&path, &done, &out_tx));
        }
    }
    let stderr = child.stderr.take().ok_or("stderr not captured")?;
    let (err_tx, err_rx) = mpsc::channel();
    thread::spawn(move || err_tx.send(read_all(stderr)));
    Ok(Emulator { child, serial: out_rx, stderr: err_rx, exited, log: launch.log.clone() })
}

impl Emulator {
    /// Takes the console channel (for a reader that also polls the emulator).
    pub fn take_serial(&mut self) -> Receiver<Vec<u8>> {
        std::mem::replace(&mut self.serial, mpsc::channel().1)
    }

    /// Whether the emulator exited; records it for the serial reader.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        if status.is_some() {
            self.exited.store(true, Ordering::Release);
        }
        status
    }

    /// Waits for the emulator to exit, until `deadline`.
    pub fn reap(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits for the emulator to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait();
        self.exited.store(true, Ordering::Release);
        status
    }

    /// Kills the emulator (if still running) and returns its diagnostics: stderr and,
    /// for Bochs, the end of its log.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited.store(true, Ordering::Release);
        // Bounded: a grandchild that inherited stderr must not hang the caller.
        let mut text = self.stderr.recv_timeout(STDERR_GRACE).unwrap_or_default();
        if let Some(log) = &self.log {
            let bochs = std::fs::read_to_string(log).unwrap_or_default();
            let useful: Vec<&str> = bochs.lines().filter(|l| l.contains("e[") || l.contains("p[") || l.contains(">>PANIC")).collect();
            text.push_str(&useful[useful.len().saturating_sub(10)..].join("\n"));
        }
        text
    }
}

fn read_chunks(mut stdout: ChildStdout, tx: &mpsc::Sender<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stdout.read(&mut buf) {
        if tx.send(buf[..n].to_vec()).is_err() {
            return;
        }
    }
}

/// Follows a file the emulator writes its serial console to: new bytes as they appear,
/// until the emulator has exited and the file is drained.
fn tail_file(path: &Path, exited: &AtomicBool, tx: &mpsc::Sender<Vec<u8>>) {
    let mut file: Option<File> = None;
    let mut buf = [0u8; 4096];
    loop {
        let done = exited.load(Ordering::Acquire);
        if file.is_none() {
            file = File::open(path).ok();
        }
        let mut read_any = false;
        if let Some(f) = &mut file {
            while let Ok(n @ 1..) = f.read(&mut buf) {
                read_any = true;
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        }
        if done && !read_any {
            return;
        }
        if !read_any {
            thread::sleep(POLL);
        }
    }
}

fn read_all(mut stderr: ChildStderr) -> String {
    let mut bytes = Vec::new();
    let _ = stderr.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

//! `cargo bh run`: build the image and boot it in the board's emulator, logs decoded.

use std::io::{Read, Write};
use std::process::{ExitCode, Stdio};

use bulkhead_harness::log::Decoder;

use super::{image, progress, Command};
use crate::args::{Args, Spec};
use crate::error::{self, Context, Error, Result};
use crate::{process, repo};

/// The `run` command.
pub const COMMAND: Command = Command {
    spec: Spec {
        command: "run",
        positionals: &["board"],
        required: 1,
        flags: &[],
        options: &["--config"],
        rest: true,
    },
    usage: "<board> [--config FILE] [-- QEMU ARGS]",
    summary: "image, then boot it under the board's emulator (Ctrl-C ends it)",
    run,
};

/// Boots the image with the serial console on stdout, defmt frames decoded to text.
///
/// The emulator's stdin is not the terminal, so the terminal stays in cooked mode and
/// Ctrl-C ends the emulator and this command together. The exit status is the
/// emulator's, except that a hypervisor that refused to boot (it prints one
/// `bulkhead: boot failed` / `bulkhead: cannot start` line and powers the machine off,
/// which the emulator reports as success) makes it 1.
fn run(args: &Args) -> Result<ExitCode> {
    let board = super::board(args)?;
    let made = image::image(&board, args.option("--config"), None)?;
    let elf = error::read(&made.elf)?;
    let mut decoder =
        Decoder::new(&elf).map_err(|e| Error::new(format!("{}: {e}", repo::show(&made.elf))))?;
    let mut cmd = std::process::Command::new(&board.qemu[0]);
    cmd.args(&board.qemu[1..])
        .arg("-kernel")
        .arg(&made.image)
        .args(&args.rest);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    progress(
        "run",
        format!("{} … -kernel {}", board.qemu[0], repo::show(&made.image)),
    );
    let mut child = cmd.spawn().map_err(|e| process::spawn_error(&cmd, e))?;
    let mut refused = false;
    if let Some(mut serial) = child.stdout.take() {
        refused = relay(&mut serial, &mut decoder, &mut std::io::stdout())?;
    }
    let status = child
        .wait()
        .context(|| format!("waiting for {}", board.qemu[0]))?;
    if !status.success() {
        progress("run", format!("{} exited: {status}", board.qemu[0]));
    }
    if refused {
        progress("run", "the hypervisor refused to boot (see the line above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

/// Copies the emulator's output to `out` a decoded line at a time until it closes;
/// returns whether the hypervisor said it refused to boot.
fn relay(serial: &mut impl Read, decoder: &mut Decoder, out: &mut impl Write) -> Result<bool> {
    let mut refused = false;
    let mut buf = [0u8; 4096];
    loop {
        let n = serial
            .read(&mut buf)
            .context(|| "reading the emulator's output".to_string())?;
        let lines = if n == 0 {
            decoder.finish().into_iter().collect()
        } else {
            decoder.feed(&buf[..n])
        };
        for line in lines {
            refused |= bulkhead_harness::log::is_boot_refusal(&line);
            // A closed stdout (e.g. `| head`) must not stop the emulator's reader.
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        if n == 0 {
            return Ok(refused);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_text_lines_and_the_unterminated_tail() {
        let mut serial: &[u8] = b"[alpha] hello\r\nbanner\n\x01\x02\x00tail";
        let mut out = Vec::new();
        assert!(!relay(&mut serial, &mut Decoder::text_only(), &mut out).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("[alpha] hello\nbanner\n<defmt frame"),
            "{text}"
        );
        assert!(text.ends_with("\ntail\n"), "{text}");
    }

    #[test]
    fn a_boot_refusal_is_reported() {
        let mut serial: &[u8] = b"ERROR boot failed: config: /partitions/a: kernel: x\nbulkhead: boot failed (see the log above); nothing started\n";
        let mut out = Vec::new();
        assert!(relay(&mut serial, &mut Decoder::text_only(), &mut out).unwrap());
    }
}

//! `cargo bh run`: build the image and boot it in the board's emulator, logs decoded.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use bulkhead_harness::emulator;
use bulkhead_harness::log::Decoder;

use super::{image, progress};
use crate::cli::RunArgs;
use crate::error::{self, Context, Error, Result};
use crate::repo;

/// Boots the image with the serial console on stdout, defmt frames decoded to text.
///
/// The emulator's stdin is not the terminal, so the terminal stays in cooked mode and
/// Ctrl-C ends the emulator and this command together. The exit status is the
/// emulator's, except that a hypervisor that refused to boot (it prints one
/// `bulkhead: boot failed` / `bulkhead: cannot start` line and powers the machine off,
/// which the emulator reports as success) makes it 1.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let board = super::board(&args.board.board)?;
    let made = image::image(&board, args.config.as_deref(), None)?;
    let elf = error::read(&made.elf)?;
    let mut decoder =
        Decoder::new(&elf).map_err(|e| Error::new(format!("{}: {e}", repo::show(&made.elf))))?;
    let root = repo::root();
    let scratch = repo::board_out(&board.name).join("run");
    let launch = emulator::launch(&root, &board.name, &made.image, &args.extra, false, &scratch).map_err(Error::new)?;
    progress("run", format!("{} … {}", launch.argv[0], repo::show(&made.image)));
    let mut emu = emulator::spawn(&root, &launch).map_err(Error::new)?;
    let serial = emu.take_serial();
    let refused = relay(&serial, &mut decoder, &mut std::io::stdout(), &mut emu)?;
    let status = emu.wait().context(|| format!("waiting for {}", launch.argv[0]))?;
    if !status.success() {
        progress("run", format!("{} exited: {status}", launch.argv[0]));
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

/// What `relay` needs to notice the emulator's end while its console is quiet (a
/// console read from a file has no end of stream of its own).
trait Exits {
    fn exited(&mut self) -> bool;
}

impl Exits for emulator::Emulator {
    fn exited(&mut self) -> bool {
        self.try_exit().is_some()
    }
}

/// Copies the emulator's console to `out` a decoded line at a time until it ends;
/// returns whether the hypervisor said it refused to boot.
fn relay(serial: &Receiver<Vec<u8>>, decoder: &mut Decoder, out: &mut impl Write, emu: &mut impl Exits) -> Result<bool> {
    let mut refused = false;
    loop {
        let chunk = match serial.recv_timeout(Duration::from_millis(50)) {
            Ok(bytes) => bytes,
            Err(RecvTimeoutError::Timeout) => {
                emu.exited();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => Vec::new(),
        };
        let n = chunk.len();
        let lines = if n == 0 {
            decoder.finish().into_iter().collect()
        } else {
            decoder.feed(&chunk)
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

    struct Never;
    impl Exits for Never {
        fn exited(&mut self) -> bool {
            false
        }
    }

    fn channel(bytes: &[u8]) -> Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(bytes.to_vec()).unwrap();
        rx
    }

    #[test]
    fn relays_text_lines_and_the_unterminated_tail() {
        let serial = channel(b"[alpha] hello\r\nbanner\n\x01\x02\x00tail");
        let mut out = Vec::new();
        assert!(!relay(&serial, &mut Decoder::text_only(), &mut out, &mut Never).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("[alpha] hello\nbanner\n<defmt frame"),
            "{text}"
        );
        assert!(text.ends_with("\ntail\n"), "{text}");
    }

    #[test]
    fn a_boot_refusal_is_reported() {
        let serial = channel(b"ERROR boot failed: config: /partitions/a: kernel: x\nbulkhead: boot failed (see the log above); nothing started\n");
        let mut out = Vec::new();
        assert!(relay(&serial, &mut Decoder::text_only(), &mut out, &mut Never).unwrap());
    }
}

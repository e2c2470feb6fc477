//! Writing results to stdout, where a closed pipe (`cargo bh check … | head -1`) ends
//! the command quietly instead of with a panic.

use std::io::{self, Write};

use crate::error::{Error, Result};

/// Writes `text` to stdout and flushes it; a reader that went away is
/// [`Error::BrokenPipe`], which `main` turns into a silent exit.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(from_io)
}

/// [`print`] with a newline.
pub fn line(text: impl std::fmt::Display) -> Result<()> {
    print(&format!("{text}\n"))
}

/// An I/O error on stdout as the CLI's error.
pub fn from_io(err: io::Error) -> Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Error::BrokenPipe
    } else {
        Error::new(format!("cannot write to stdout: {err}"))
    }
}

/// The exit status of a command whose reader went away: 128 + SIGPIPE, what a shell
/// reports for a process that a broken pipe ended.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Installs a panic hook that ends the process quietly (status 141) when a `print!`
/// anywhere (a library's included) panics on a closed stdout or stderr; other panics
/// keep the default report.
pub fn quiet_broken_pipes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(i32::from(BROKEN_PIPE_STATUS));
        }
        default(info);
    }));
}

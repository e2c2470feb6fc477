//! `cargo bh`: the one front door for host-side work on Bulkhead.
//!
//! Each command lives in its own module under [`cmd`]; the modules beside it are the
//! shared pieces (board descriptions, device-tree compilation, image resolution, image
//! packing, child processes). Every failure is an [`error::Error`] that already carries
//! its context, so `main` prints it as one line and exits non-zero.

mod args;
mod board;
mod cmd;
mod dt;
mod error;
mod guests;
mod images;
mod iso;
mod map;
mod pack;
mod process;
mod repo;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match cmd::dispatch(&argv) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

//! `cargo bh`: the one front door for host-side work on Bulkhead.
//!
//! The command line is declared in [`cli`] (clap); each command lives in its own module
//! under [`cmd`]; the modules beside them are the shared pieces (board descriptions,
//! device-tree compilation and source lines, image resolution, image packing, the
//! partition map, child processes). Every failure is an [`error::Error`] that already
//! carries its context, so `main` prints it (one line per error) and exits non-zero.

mod board;
mod cli;
mod cmd;
mod dt;
mod error;
mod guests;
mod images;
mod iso;
mod map;
mod out;
mod pack;
mod process;
mod repo;
mod source;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    out::quiet_broken_pipes();
    let cli = cli::Cli::parse();
    match cmd::dispatch(cli.command) {
        Ok(code) => code,
        Err(error::Error::BrokenPipe) => ExitCode::from(out::BROKEN_PIPE_STATUS),
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

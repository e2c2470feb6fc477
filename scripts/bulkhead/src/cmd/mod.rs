//! The commands, one module each; [`dispatch`] runs the one the command line names.

pub mod bench;
pub mod build;
pub mod check;
pub mod image;
pub mod run;
pub mod test;

use std::process::ExitCode;

use crate::cli::Command;
use crate::error::Result;

/// Runs `command`.
pub fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Check(args) => check::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Image(args) => image::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Completions(args) => {
            let mut script = Vec::new();
            crate::cli::completions(args.shell, &mut script);
            crate::out::print(&String::from_utf8_lossy(&script))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a progress line for a long step (on stderr, so stdout stays the result).
pub fn progress(step: &str, what: impl std::fmt::Display) {
    eprintln!("==> {step:<6} {what}");
}

/// The board named `name` (clap already checked it is one of `boards/`).
fn board(name: &str) -> Result<crate::board::Board> {
    crate::board::Board::load(name)
}

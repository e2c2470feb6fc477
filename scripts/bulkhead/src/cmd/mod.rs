//! The commands, one module each; [`dispatch`] picks one from the first argument.

pub mod bench;
pub mod build;
pub mod check;
pub mod help;
pub mod image;
pub mod run;
pub mod test;

use std::process::ExitCode;

use crate::args::{Args, Spec};
use crate::error::{Error, Result};

/// A command: its argument spec, its one-line summary and its entry point.
pub struct Command {
    /// Accepted arguments; `spec.command` is the command's name.
    pub spec: Spec,
    /// Usage line after `cargo bh <name>`.
    pub usage: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// Runs the command.
    pub run: fn(&Args) -> Result<ExitCode>,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[&Command] = &[
    &check::COMMAND,
    &build::COMMAND,
    &image::COMMAND,
    &run::COMMAND,
    &test::COMMAND,
    &bench::COMMAND,
    &help::COMMAND,
];

/// Runs the command named by `argv[0]` with the rest of `argv`.
pub fn dispatch(argv: &[String]) -> Result<ExitCode> {
    let Some((name, rest)) = argv.split_first() else {
        print!("{}", help::text());
        return Ok(ExitCode::FAILURE);
    };
    let name = match name.as_str() {
        "-h" | "--help" => "help",
        other => other,
    };
    let command = COMMANDS
        .iter()
        .find(|c| c.spec.command == name)
        .ok_or_else(|| Error::new(format!("unknown command `{name}` (see `cargo bh help`)")))?;
    let args = Args::parse(&command.spec, rest)?;
    (command.run)(&args)
}

/// Prints a progress line for a long step (on stderr, so stdout stays the result).
pub fn progress(step: &str, what: impl std::fmt::Display) {
    eprintln!("==> {step:<6} {what}");
}

/// The board named by the first positional (`Args::parse` made sure it is there).
fn board(args: &Args) -> Result<crate::board::Board> {
    crate::board::Board::load(args.positional(0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_unique_name() {
        for (i, a) in COMMANDS.iter().enumerate() {
            assert!(COMMANDS[i + 1..]
                .iter()
                .all(|b| b.spec.command != a.spec.command));
        }
    }

    #[test]
    fn unknown_commands_are_one_clear_error() {
        let err = dispatch(&["frobnicate".to_string()])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "unknown command `frobnicate` (see `cargo bh help`)");
    }
}

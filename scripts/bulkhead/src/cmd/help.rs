//! `cargo bh help`: what each command does.

use std::fmt::Write;
use std::process::ExitCode;

use super::{Command, COMMANDS};
use crate::args::{Args, Spec};
use crate::error::Result;

/// The `help` command.
pub const COMMAND: Command = Command {
    spec: Spec {
        command: "help",
        positionals: &[],
        required: 0,
        flags: &[],
        options: &[],
        rest: false,
    },
    usage: "",
    summary: "this text",
    run,
};

fn run(_: &Args) -> Result<ExitCode> {
    print!("{}", text());
    Ok(ExitCode::SUCCESS)
}

/// The help text: usage of every command, then the conventions they share.
pub fn text() -> String {
    let mut out = String::from("Bulkhead host CLI\n\nusage: cargo bh <command> [arguments]\n\n");
    let width = COMMANDS
        .iter()
        .map(|c| c.spec.command.len() + 1 + c.usage.len())
        .max()
        .unwrap_or(0);
    for c in COMMANDS {
        let usage = format!("{} {}", c.spec.command, c.usage);
        let _ = writeln!(out, "  {usage:<width$}  {}", c.summary);
    }
    out.push_str(
        "\n<board> is a folder under boards/ (e.g. qemu-virt-arm64). Images named in a config by a\n\
         bare name (no `/`, no `.`) are in-tree test guests from ci/guests/<arch>; any other name\n\
         is a file relative to the config file. Outputs go to target/bulkhead/<board>/.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_command() {
        let text = super::text();
        for c in super::COMMANDS {
            assert!(
                text.contains(&format!("  {} ", c.spec.command)),
                "{}",
                c.spec.command
            );
        }
    }
}

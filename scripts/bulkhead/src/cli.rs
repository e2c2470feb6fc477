//! The command line, declared with clap: every command, its arguments and its help.
//!
//! `cargo bh --help`, `cargo bh help <command>` and `cargo bh <command> --help` come from
//! these declarations, and so do `--version` and the shell completions
//! (`cargo bh completions bash|zsh|fish`).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::{board, repo};

/// What `cargo bh --help` prints after the command list.
const CONVENTIONS: &str = "\
<BOARD> is a folder under boards/ (e.g. qemu-virt-arm64). Images named in a config by a
bare name (no `/`, no `.`) are in-tree test guests from ci/guests/<arch>; `cache:<path>`
is a file below the download cache that scripts/setup fills; any other name is a file
relative to the config file. Outputs go to target/bulkhead/<board>/.
Progress lines (`==> step  what`) go to stderr; results go to stdout.";

/// The Bulkhead host CLI: check configs, build and boot images, run the tests.
#[derive(Debug, Parser)]
#[command(
    name = "cargo bh",
    bin_name = "cargo bh",
    version,
    after_help = CONVENTIONS,
    arg_required_else_help = true,
    disable_help_subcommand = false
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command, in the order `cargo bh --help` lists them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the board's config (or FILE) and print the partition map
    #[command(
        long_about = "Validate the board's config (or FILE) and print the partition map.\n\n\
        Compiles the config and the board's platform.dts with dtc (a compiled .dtb is \
        taken as it is), parses and validates the config against the platform and the \
        hypervisor build's rules, checks every image it names, and prints the map: one \
        address-sorted table of host RAM, the CPUs and devices nobody owns, then each \
        partition in detail. A rejected config prints one line per independent error, \
        `FILE:LINE: NODE: PROPERTY: REASON`, and exits 1."
    )]
    Check(CheckArgs),
    /// Build the in-tree test guests and the board's hypervisor
    Build(BoardArg),
    /// Check + build, then pack the bootable image (target/bulkhead/<board>/bulkhead.img or .iso)
    Image(ImageArgs),
    /// Image, then boot it under the board's emulator (Ctrl-C ends it)
    #[command(
        long_about = "Image, then boot it under the board's emulator (Ctrl-C ends it).\n\n\
        The serial console goes to stdout with the hypervisor's defmt frames decoded to \
        text. The exit status is the emulator's, or 1 when the hypervisor refused to boot."
    )]
    Run(RunArgs),
    /// Host tests, bare-metal builds, benchmarks, emulator scenarios; ends with `N passed, M failed`
    Test(TestArgs),
    /// Count path lengths on bare QEMU and under Bulkhead; table + target/bench/results.{json,svg}
    Bench(BenchArgs),
    /// Print a shell completion script (for a `bh` shell function, see the README)
    #[command(long_about = "Print a shell completion script.\n\n\
        The script completes a command named `bh`; define it as a shell function that runs \
        `cargo bh` and load the script, e.g. in bash:\n\n  \
        bh() { cargo bh \"$@\"; }\n  source <(cargo bh completions bash)\n\n\
        zsh: the same two lines (after compinit); fish: \
        `function bh; cargo bh $argv; end; cargo bh completions fish | source`.")]
    Completions(CompletionsArgs),
}

/// A board and nothing else.
#[derive(Debug, Args)]
pub struct BoardArg {
    /// The board: a folder under boards/
    #[arg(value_name = "BOARD", value_parser = boards())]
    pub board: String,
}

/// `check`'s arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// Config to check instead of the board's config.dts (.dts, or a compiled .dtb)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the map as JSON instead of text (schema: doc/map.md)
    #[arg(long)]
    pub json: bool,
    /// Also draw the partition map as an SVG picture to OUT
    #[arg(long, value_name = "OUT")]
    pub svg: Option<PathBuf>,
}

/// `image`'s arguments.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// Config to use instead of the board's config.dts
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to write the image (the hypervisor ELF goes beside it, extension .elf)
    #[arg(short, long, value_name = "OUT")]
    pub out: Option<PathBuf>,
}

/// `run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// Config to use instead of the board's config.dts
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra emulator arguments, after `--`
    #[arg(last = true, value_name = "EMULATOR ARGS")]
    pub extra: Vec<String>,
}

/// `test`'s arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Only the host tests and the bare-metal builds
    #[arg(long, conflicts_with = "scenarios_only")]
    pub host_only: bool,
    /// Only the emulator scenarios
    #[arg(long)]
    pub scenarios_only: bool,
    /// Run only tests and scenarios whose name contains FILTER
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
}

/// `bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Skip the two Linux boots
    #[arg(long)]
    pub no_linux: bool,
}

/// `completions`' arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The boards in the tree, as the possible values of `<BOARD>`.
fn boards() -> PossibleValuesParser {
    PossibleValuesParser::new(board::list(&repo::root().join("boards")))
}

/// Prints the completion script for `shell` (for a command named `bh`).
pub fn completions(shell: Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "bh", out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo bh").chain(line.split_whitespace()))
    }

    #[test]
    fn the_declarations_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_take_both_spellings() {
        let Command::Image(a) = parse("image qemu-virt-arm64 --config=a.dts -o x.img")
            .unwrap()
            .command
        else {
            panic!("not image");
        };
        assert_eq!(a.config.as_deref(), Some(std::path::Path::new("a.dts")));
        assert_eq!(a.out.as_deref(), Some(std::path::Path::new("x.img")));
        let Command::Check(c) = parse("check qemu-virt-arm64 --config c.dts --json --svg=m.svg")
            .unwrap()
            .command
        else {
            panic!("not check");
        };
        assert!(c.json && c.svg.is_some() && c.config.is_some());
    }

    #[test]
    fn run_passes_everything_after_the_double_dash() {
        let Command::Run(r) = parse("run qemu-virt-arm64 -- -s -d int").unwrap().command else {
            panic!("not run");
        };
        assert_eq!(r.extra, ["-s", "-d", "int"]);
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let err = |line: &str| parse(line).unwrap_err().to_string();
        assert!(err("check no-such-board").contains("invalid value 'no-such-board'"));
        assert!(err("check no-such-board").contains("qemu-virt-arm64"));
        assert!(err("check qemu-virt-arm64 --bogus").contains("unexpected argument '--bogus'"));
        assert!(err("test --host-only --scenarios-only").contains("cannot be used with"));
        assert!(err("frobnicate").contains("unrecognized subcommand 'frobnicate'"));
    }

    #[test]
    fn completions_cover_every_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let script = String::from_utf8(out).unwrap();
            for command in [
                "check",
                "build",
                "image",
                "run",
                "test",
                "bench",
                "completions",
            ] {
                assert!(script.contains(command), "{shell:?} lacks {command}");
            }
        }
    }
}

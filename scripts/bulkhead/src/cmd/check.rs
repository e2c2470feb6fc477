//! `cargo bh check`: compile, parse and validate a config, then print the partition map.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bulkhead_core::config::{self, Config, ConfigError, Platform};

use super::Command;
use crate::args::{Args, Spec};
use crate::board::Board;
use crate::error::{Error, Result};
use crate::images::{self, Image};
use crate::{dt, map, repo};

/// The `check` command.
pub const COMMAND: Command = Command {
    spec: Spec {
        command: "check",
        positionals: &["board"],
        required: 1,
        flags: &[],
        options: &["--config"],
        rest: false,
    },
    usage: "<board> [--config FILE]",
    summary: "validate the board's config (or FILE) and print the partition map",
    run,
};

/// A config that passed every host-side check.
pub struct Checked {
    /// The config source file.
    pub config_file: PathBuf,
    /// The compiled config, as it goes into the bundle.
    pub config_dtb: Vec<u8>,
    /// The validated config.
    pub config: Config,
    /// Every image the config names, located and checked.
    pub images: Vec<Image>,
}

fn run(args: &Args) -> Result<ExitCode> {
    let board = super::board(args)?;
    let checked = check(&board, args.option("--config"))?;
    println!(
        "{}: valid for {} ({} partitions)\n",
        repo::show(&checked.config_file),
        board.name,
        checked.config.partitions.len()
    );
    print!("{}", map::render(&checked.config, &checked.images));
    Ok(ExitCode::SUCCESS)
}

/// Compiles and validates `config` (default: the board's) against the board's platform
/// and checks its images. Errors read `<file>: <node>: <property>: <reason>`.
pub fn check(board: &Board, config: Option<&str>) -> Result<Checked> {
    let config_file = config
        .map(PathBuf::from)
        .unwrap_or_else(|| board.config.clone());
    let config_dtb = dt::compile(&config_file)?;
    let platform_dtb = dt::compile(&board.platform)?;
    let parsed = config::parse(&config_dtb).map_err(in_file(&config_file))?;
    let platform = Platform::from_dtb(&platform_dtb).map_err(in_file(&board.platform))?;
    let config = config::validate(&parsed, &platform).map_err(in_file(&config_file))?;
    let images = images::resolve(&config, &config_file, board)?;
    Ok(Checked {
        config_file,
        config_dtb,
        config,
        images,
    })
}

/// Prefixes a config error with the file it is about.
fn in_file(file: &Path) -> impl Fn(ConfigError) -> Error + '_ {
    move |err| Error::new(format!("{}: {err}", repo::show(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_checks() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let checked = check(&board, None).unwrap();
        assert!(!checked.config.partitions.is_empty());
        assert_eq!(&checked.config_dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        assert!(map::render(&checked.config, &checked.images).contains("partition 0: "));
    }

    #[test]
    fn a_cpu_given_twice_is_one_line_naming_file_node_and_property() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let text = std::fs::read_to_string(&board.config).unwrap();
        let twice = text.replacen("cpus = <2>;", "cpus = <1>;", 1);
        assert_ne!(text, twice, "the default config no longer gives beta CPU 2");
        let file = std::env::temp_dir().join(format!("bh-twice-{}.dts", std::process::id()));
        std::fs::write(&file, twice).unwrap();
        let err = check(&board, file.to_str())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        std::fs::remove_file(&file).unwrap();
        let expected = format!("{}: /partitions/beta: cpus: ", file.display());
        assert!(err.starts_with(&expected) && !err.contains('\n'), "{err}");
    }
}

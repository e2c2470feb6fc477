//! `cargo bh check`: compile, parse and validate a config, then print the partition map.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bulkhead_core::bundle::{self, CONFIG_ENTRY, PLATFORM_ENTRY};
use bulkhead_core::config::{self, Config, ConfigError, Placement, Platform};

use super::Command;
use crate::args::{Args, Spec};
use crate::board::{Board, ImageFormat};
use crate::error::{self as cli_error, Error, Result};
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
    /// Where each partition's images go (partition order).
    pub placements: Vec<Placement>,
    /// Bundle entries besides the config and the images: the platform description on
    /// boards whose firmware has no device tree (x86).
    pub extra: Vec<(&'static str, Vec<u8>)>,
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
    print!("{}", map::render(&checked.config, &checked.images, &checked.placements));
    Ok(ExitCode::SUCCESS)
}

/// Compiles and validates `config` (default: the board's) against the board's platform
/// and the hypervisor build's rules, builds the in-tree test guests it names, and checks
/// every image the way the boot path will: present, not empty, placed in its partition's
/// RAM, tables and bundle within the hypervisor's memory. Errors read
/// `<file>: <node>: <property>: <reason>`.
pub fn check(board: &Board, config: Option<&str>) -> Result<Checked> {
    let (config_file, config_dtb, config) = validate(board, config)?;
    let extra = match board.image_format {
        ImageFormat::GrubIso => vec![(PLATFORM_ENTRY, dt::compile(&board.platform)?)],
        ImageFormat::Arm64Image => Vec::new(),
    };
    let images = images::resolve(&config, &config_file, board)?;
    if images.iter().any(Image::is_guest) {
        super::build::build_guests(board)?;
    }
    let mut bytes = Vec::with_capacity(images.len());
    for image in &images {
        bytes.push(cli_error::read(image.path())?);
    }
    let sizes = std::iter::once(config_dtb.len()).chain(extra.iter().map(|(_, b)| b.len())).chain(bytes.iter().map(Vec::len));
    let bundle = bundle::size_for(sizes).ok_or_else(|| Error::new("the bundle would be larger than 4 GiB"))?;
    let lookup = |name: &str| -> std::result::Result<&[u8], String> {
        let i = images.iter().position(|i| i.name == name && name != CONFIG_ENTRY && name != PLATFORM_ENTRY);
        i.map(|i| bytes[i].as_slice()).ok_or_else(|| format!("image `{name}` was not resolved"))
    };
    let target = board.target()?;
    let placements =
        config::check_boot(&config, &target, lookup, bundle as u64).map_err(in_file(&config_file))?;
    Ok(Checked {
        config_file,
        config_dtb,
        config,
        images,
        placements,
        extra,
    })
}

/// The config (default: the board's) compiled, parsed and validated against the board's
/// platform and the build's rules: everything that needs no image.
pub fn validate(board: &Board, config: Option<&str>) -> Result<(PathBuf, Vec<u8>, Config)> {
    let config_file = config
        .map(PathBuf::from)
        .unwrap_or_else(|| board.config.clone());
    let config_dtb = dt::compile(&config_file)?;
    let platform_dtb = dt::compile(&board.platform)?;
    let parsed = config::parse(&config_dtb).map_err(in_file(&config_file))?;
    let platform = Platform::from_dtb(&platform_dtb).map_err(in_file(&board.platform))?;
    let target = board.target()?;
    config::check_platform(&platform, &target).map_err(in_file(&board.platform))?;
    let config = config::validate(&parsed, &platform, &target).map_err(in_file(&config_file))?;
    Ok((config_file, config_dtb, config))
}

/// Prefixes a config error with the file it is about.
fn in_file(file: &Path) -> impl Fn(ConfigError) -> Error + '_ {
    move |err| Error::new(format!("{}: {err}", repo::show(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_validates() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let (_, dtb, config) = validate(&board, None).unwrap();
        assert!(!config.partitions.is_empty());
        assert_eq!(&dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        let images = images::resolve(&config, &board.config, &board).unwrap();
        assert!(map::render(&config, &images, &[]).contains("partition 0: "));
    }

    #[test]
    fn a_cpu_given_twice_is_one_line_naming_file_node_and_property() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let text = std::fs::read_to_string(&board.config).unwrap();
        let twice = text.replacen("cpus = <2>;", "cpus = <1>;", 1);
        assert_ne!(text, twice, "the default config no longer gives beta CPU 2");
        let file = std::env::temp_dir().join(format!("bh-twice-{}.dts", std::process::id()));
        std::fs::write(&file, twice).unwrap();
        let err = validate(&board, file.to_str())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        std::fs::remove_file(&file).unwrap();
        let expected = format!("{}: /partitions/beta: cpus: ", file.display());
        assert!(err.starts_with(&expected) && !err.contains('\n'), "{err}");
    }
}

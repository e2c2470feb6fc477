//! `cargo bh check`: compile, parse and validate a config, then print the partition map.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bulkhead_core::bundle::{self, CONFIG_ENTRY, PLATFORM_ENTRY};
use bulkhead_core::config::{self, Config, ConfigError, Placement, Platform};

use super::progress;
use crate::board::{Board, ImageFormat};
use crate::cli::CheckArgs;
use crate::error::{self as cli_error, Error, Result};
use crate::images::{self, Image};
use crate::source::SourceMap;
use crate::{dt, map, out, repo};

/// A config that passed every host-side check.
pub struct Checked {
    /// The config file.
    pub config_file: PathBuf,
    /// The compiled config, as it goes into the bundle.
    pub config_dtb: Vec<u8>,
    /// Where the config's nodes and properties were written (`None` for a `.dtb`).
    pub lines: Option<SourceMap>,
    /// The validated config.
    pub config: Config,
    /// The board's platform description.
    pub platform: Platform,
    /// Every image the config names, located and checked.
    pub images: Vec<Image>,
    /// The size of each of `images`, in bytes.
    pub image_sizes: Vec<u64>,
    /// Where each partition's images go (partition order).
    pub placements: Vec<Placement>,
    /// Bundle entries besides the config and the images: the platform description on
    /// boards whose firmware has no device tree (x86).
    pub extra: Vec<(&'static str, Vec<u8>)>,
}

/// `cargo bh check`: the map as text (or JSON), and the SVG picture when asked.
pub fn run(args: &CheckArgs) -> Result<ExitCode> {
    let board = super::board(&args.board.board)?;
    let checked = check(&board, args.config.as_deref())?;
    let map = map::build(&board, &checked);
    if let Some(svg) = &args.svg {
        cli_error::write(svg, map::svg(&map).as_bytes())?;
        progress(
            "check",
            format!("wrote the partition map to {}", repo::show(svg)),
        );
    }
    if args.json {
        return out::print(&map.json()).map(|()| ExitCode::SUCCESS);
    }
    let partitions = checked.config.partitions.len();
    out::print(&format!(
        "{}: valid for {} ({partitions} partition{})\n\n{}",
        repo::show(&checked.config_file),
        board.name,
        if partitions == 1 { "" } else { "s" },
        map::text(&map)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Compiles and validates `config` (default: the board's) against the board's platform
/// and the hypervisor build's rules, builds the in-tree test guests it names, and checks
/// every image the way the boot path will: present, not empty, placed in its partition's
/// RAM, tables and bundle within the hypervisor's memory. A refusal lists every
/// independent error, one line each: `<file>:<line>: <node>: <property>: <reason>`.
pub fn check(board: &Board, config: Option<&Path>) -> Result<Checked> {
    let valid = validate(board, config)?;
    let report =
        |errors: Vec<ConfigError>| refusal(&valid.config_file, valid.lines.as_ref(), errors);
    let extra = match board.image_format {
        ImageFormat::GrubIso => vec![(PLATFORM_ENTRY, dt::compile(&board.platform)?)],
        ImageFormat::Arm64Image => Vec::new(),
    };
    let images = images::resolve(&valid.config, &valid.config_file, board).map_err(report)?;
    if images.iter().any(Image::is_guest) {
        super::build::build_guests(board)?;
    }
    let mut bytes = Vec::with_capacity(images.len());
    for image in &images {
        bytes.push(cli_error::read(image.path())?);
    }
    let sizes = std::iter::once(valid.config_dtb.len())
        .chain(extra.iter().map(|(_, b)| b.len()))
        .chain(bytes.iter().map(Vec::len));
    let bundle = bundle::size_for(sizes)
        .ok_or_else(|| Error::new("the bundle would be larger than 4 GiB"))?;
    let lookup = |name: &str| -> std::result::Result<&[u8], String> {
        let i = images
            .iter()
            .position(|i| i.name == name && name != CONFIG_ENTRY && name != PLATFORM_ENTRY);
        i.map(|i| bytes[i].as_slice())
            .ok_or_else(|| format!("image `{name}` was not resolved"))
    };
    let target = board.target()?;
    let placements = config::check_boot(&valid.config, &target, lookup, bundle as u64)
        .map_err(|e| report(vec![e]))?;
    Ok(Checked {
        image_sizes: bytes.iter().map(|b| b.len() as u64).collect(),
        config_file: valid.config_file,
        config_dtb: valid.config_dtb,
        lines: valid.lines,
        config: valid.config,
        platform: valid.platform,
        images,
        placements,
        extra,
    })
}

/// A config that parsed and validated, before its images are looked at.
pub struct Validated {
    /// The config file.
    pub config_file: PathBuf,
    /// The compiled config.
    pub config_dtb: Vec<u8>,
    /// Where its pieces were written.
    pub lines: Option<SourceMap>,
    /// The validated config.
    pub config: Config,
    /// The board's platform description.
    pub platform: Platform,
}

/// The config (default: the board's; a `.dts` or a compiled `.dtb`) parsed and
/// validated against the board's platform and the build's rules: everything that needs
/// no image.
pub fn validate(board: &Board, config: Option<&Path>) -> Result<Validated> {
    let config_file = config
        .map(PathBuf::from)
        .unwrap_or_else(|| board.config.clone());
    let loaded = dt::load(&config_file)?;
    let platform_src = dt::load(&board.platform)?;
    let in_config = |errors| refusal(&config_file, loaded.lines.as_ref(), errors);
    let in_platform = |error| refusal(&board.platform, platform_src.lines.as_ref(), vec![error]);
    let parsed = config::parse_all(&loaded.dtb).map_err(in_config)?;
    let platform = Platform::from_dtb(&platform_src.dtb).map_err(in_platform)?;
    let target = board.target()?;
    config::check_platform(&platform, &target).map_err(in_platform)?;
    let config = config::validate_all(&parsed, &platform, &target).map_err(in_config)?;
    Ok(Validated {
        config_file,
        config_dtb: loaded.dtb,
        lines: loaded.lines,
        config,
        platform,
    })
}

/// `errors` about `file` as one error of one line each: `file:LINE: <error>` where the
/// source map knows the line, `file: <error>` where it does not (a `.dtb`).
fn refusal(file: &Path, lines: Option<&SourceMap>, errors: Vec<ConfigError>) -> Error {
    let text: Vec<String> = errors.iter().map(|e| located(file, lines, e)).collect();
    Error::new(text.join("\n"))
}

/// One error with its place: the property's line, else its node's.
pub fn located(file: &Path, lines: Option<&SourceMap>, error: &ConfigError) -> String {
    match lines.and_then(|l| l.locate(&error.node, error.property.as_deref())) {
        Some(at) => format!("{}:{}: {error}", repo::show(&at.file), at.line),
        None => format!("{}: {error}", repo::show(file)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the default config with `edit` applied, in a scratch file.
    fn edited(name: &str, edit: impl Fn(&str) -> String) -> (Board, PathBuf) {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let text = std::fs::read_to_string(&board.config).unwrap();
        let changed = edit(&text);
        assert_ne!(
            text, changed,
            "the edit did not apply to the default config"
        );
        let file = std::env::temp_dir().join(format!("bh-{name}-{}.dts", std::process::id()));
        std::fs::write(&file, changed).unwrap();
        (board, file)
    }

    fn refusal_of(board: &Board, file: &Path) -> String {
        let err = validate(board, Some(file))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        std::fs::remove_file(file).unwrap();
        err
    }

    /// The 1-based line of `file`'s first line containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn the_default_config_validates() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let valid = validate(&board, None).unwrap();
        assert!(!valid.config.partitions.is_empty());
        assert_eq!(&valid.config_dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        assert!(valid.lines.is_some());
    }

    #[test]
    fn a_cpu_given_twice_is_one_line_naming_file_line_node_and_property() {
        let (board, file) = edited("twice", |t| t.replacen("cpus = <2>;", "cpus = <1>;", 1));
        let line = line_of(&std::fs::read_to_string(&file).unwrap(), "cpus = <1>;");
        let err = refusal_of(&board, &file);
        let expected = format!(
            "{}:{line}: /partitions/beta: cpus: cpu 1 is already given to partition \"alpha\"",
            file.display()
        );
        assert_eq!(err, expected);
    }

    #[test]
    fn a_typo_gets_its_line_and_a_suggestion() {
        let (board, file) = edited("typo", |t| t.replacen("cpus = <3>;", "cpu = <3>;", 1));
        let line = line_of(&std::fs::read_to_string(&file).unwrap(), "cpu = <3>;");
        let err = refusal_of(&board, &file);
        let expected = format!(
            "{}:{line}: /partitions/gamma: cpu: unknown property (did you mean \"cpus\"?)",
            file.display()
        );
        assert_eq!(err, expected);
    }

    #[test]
    fn every_independent_error_is_one_line() {
        let (board, file) = edited("many", |t| {
            t.replacen("restart = \"restart\";", "restart = \"restrat\";", 1)
                .replacen("cpus = <3>;", "cpus = <9>;", 1)
        });
        let text = std::fs::read_to_string(&file).unwrap();
        let err = refusal_of(&board, &file);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "parse errors come first, alone: {err}");
        assert!(
            lines[0].contains(&format!(
                ":{}: /partitions/alpha: restart: ",
                line_of(&text, "restrat")
            )),
            "{err}"
        );
        let (board, file) = edited("many2", |t| {
            t.replacen("cpus = <2>;", "cpus = <1>;", 1)
                .replacen("cpus = <3>;", "cpus = <9>;", 1)
        });
        let err = refusal_of(&board, &file);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].contains(": /partitions/beta: cpus: cpu 1 is already given"),
            "{err}"
        );
        assert!(
            lines[1].contains(": /partitions/gamma: cpus: cpu 9 is not in the platform"),
            "{err}"
        );
    }

    #[test]
    fn a_compiled_dtb_is_taken_as_it_is() {
        let board = Board::load("qemu-virt-arm64").unwrap();
        let dtb = dt::compile(&board.config).unwrap();
        let file = std::env::temp_dir().join(format!("bh-config-{}.dtb", std::process::id()));
        std::fs::write(&file, &dtb).unwrap();
        let valid = validate(&board, Some(&file)).unwrap();
        assert_eq!(valid.config_dtb, dtb);
        assert!(valid.lines.is_none());
        std::fs::remove_file(&file).unwrap();
        // An error in a blob names the file without a line.
        let error = ConfigError::property("/partitions/alpha", "cpus", "x");
        assert_eq!(
            located(&file, None, &error),
            format!("{}: /partitions/alpha: cpus: x", file.display())
        );
    }
}

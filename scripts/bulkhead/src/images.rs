//! Partition images named by a config: where each comes from on the host.
//!
//! A bare name (no `/`, no `.`) is an in-tree test guest: a bin of `ci/guests/<arch>`,
//! built by `cargo bh build` to `target/guests/<arch>/<name>.bin`. A name starting with
//! `cache:` is a file below the download cache that `scripts/setup` fills
//! (`${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead`: Debian kernels, the initramfs), so a
//! committed config can name them without a machine path. Anything else is a file path
//! relative to the config file. Files must exist. The name itself, exactly as the config
//! spells it, is the image's bundle entry name.

use std::path::{Path, PathBuf};

use bulkhead_core::bundle::{CONFIG_ENTRY, NAME_LEN, PLATFORM_ENTRY};
use bulkhead_core::config::{Config, ConfigError};

use crate::board::Board;
use crate::guests;
use crate::repo;

/// One image a config refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The bundle entry name: the config's `kernel`/`initrd`/`dtb` string.
    pub name: String,
    /// Where the bytes come from.
    pub source: Source,
}

/// Where an image's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An in-tree test guest; the file exists once `cargo bh build` ran.
    Guest(PathBuf),
    /// A file next to the config; checked to exist.
    File(PathBuf),
}

impl Image {
    /// The host file holding the image.
    pub fn path(&self) -> &Path {
        match &self.source {
            Source::Guest(path) | Source::File(path) => path,
        }
    }

    /// Whether the image is an in-tree test guest.
    pub fn is_guest(&self) -> bool {
        matches!(self.source, Source::Guest(_))
    }
}

/// Whether `name` denotes an in-tree test guest rather than a file.
pub fn is_guest_name(name: &str) -> bool {
    !name.contains(['/', '.'])
}

/// The prefix of image names below the download cache.
pub const CACHE_PREFIX: &str = "cache:";

/// The download cache, `${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead`, given those two
/// variables (an empty one counts as unset, as in the shell).
pub fn cache_dir(
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> std::result::Result<PathBuf, String> {
    let set = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = match (set(xdg_cache_home), set(home)) {
        (Some(xdg), _) => xdg,
        (None, Some(home)) => home.join(".cache"),
        (None, None) => return Err("neither XDG_CACHE_HOME nor HOME is set".into()),
    };
    Ok(base.join("bulkhead"))
}

/// The file a `cache:<relative path>` name stands for, below `cache`.
fn cache_file(cache: &Path, name: &str, relative: &str) -> std::result::Result<PathBuf, String> {
    let rel = Path::new(relative);
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if relative.is_empty() || !plain {
        return Err(format!(
            "`{name}`: after `{CACHE_PREFIX}` comes a relative path without `..` (e.g. `{CACHE_PREFIX}debian-arm64/vmlinuz`)"
        ));
    }
    let path = cache.join(rel);
    match path.is_file() {
        true => Ok(path),
        false => Err(format!(
            "`{name}` is not in the cache ({}): run scripts/setup",
            path.display()
        )),
    }
}

/// Every distinct image of `config` (in config order), checked: guests must be bins of
/// the board's guest crate, files must exist. Every image that fails is an error about
/// its partition's node and property.
pub fn resolve(config: &Config, config_file: &Path, board: &Board) -> std::result::Result<Vec<Image>, Vec<ConfigError>> {
    let mut guest_bins: Option<Vec<String>> = None;
    let mut images: Vec<Image> = Vec::new();
    let mut errors = Vec::new();
    for partition in &config.partitions {
        let boot = &partition.boot;
        let named = [
            ("kernel", Some(&boot.kernel)),
            ("initrd", boot.initrd.as_ref()),
            ("dtb", boot.dtb.as_ref()),
        ];
        for (property, name) in named {
            let Some(name) = name else { continue };
            if images.iter().any(|i| &i.name == name) {
                continue;
            }
            match locate(name, config_file, board, &mut guest_bins) {
                Ok(source) => images.push(Image { name: name.clone(), source }),
                Err(reason) => errors.push(ConfigError::property(&partition.node, property, reason)),
            }
        }
    }
    match errors.is_empty() {
        true => Ok(images),
        false => Err(errors),
    }
}

/// Where image `name` comes from, or why it cannot be used.
fn locate(
    name: &str,
    config_file: &Path,
    board: &Board,
    guest_bins: &mut Option<Vec<String>>,
) -> std::result::Result<Source, String> {
    if name.len() > NAME_LEN {
        return Err(format!(
            "`{name}` is longer than {NAME_LEN} bytes (bundle entry limit)"
        ));
    }
    if name == CONFIG_ENTRY || name == PLATFORM_ENTRY {
        return Err(format!(
            "`{name}` is reserved for the bundle's own entries"
        ));
    }
    if let Some(relative) = name.strip_prefix(CACHE_PREFIX) {
        let cache = cache_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
            .map_err(|e| format!("`{name}`: no download cache: {e}"))?;
        return cache_file(&cache, name, relative).map(Source::File);
    }
    if !is_guest_name(name) {
        let path = config_file.parent().unwrap_or(Path::new(".")).join(name);
        return match path.is_file() {
            true => Ok(Source::File(path)),
            false => Err(format!("no such file: {}", repo::show(&path))),
        };
    }
    if guest_bins.is_none() {
        let dir = guests::guest_dir(&board.arch);
        let found =
            guests::crate_bins(&dir).map_err(|e| format!("in-tree test guest `{name}`: {e}"))?;
        *guest_bins = Some(found.bins);
    }
    let bins = guest_bins.as_deref().unwrap_or_default();
    if bins.iter().any(|b| b == name) {
        Ok(Source::Guest(guests::guest_image(&board.arch, name, board.guest_elf)))
    } else {
        Err(format!(
            "no in-tree test guest `{name}` in ci/guests/{} (it has: {})",
            board.arch,
            if bins.is_empty() {
                "none".to_string()
            } else {
                bins.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, Range};
    use bulkhead_core::config::{Boot, ConsoleKind, HypervisorConfig, Partition, RestartPolicy};

    pub(crate) fn partition(name: &str, kernel: &str, initrd: Option<&str>) -> Partition {
        Partition {
            name: name.into(),
            node: format!("/partitions/{name}"),
            cpus: vec![0],
            memory: vec![],
            devices: vec![],
            boot: Boot {
                kernel: kernel.into(),
                initrd: initrd.map(String::from),
                dtb: None,
                bootargs: None,
                load: Some(GuestPhysAddr::new(0x5000_0000)),
            },
            console: ConsoleKind::Virtual,
            console_given: false,
            restart: RestartPolicy::Halt,
            bad_access: Default::default(),
        }
    }

    fn config(partitions: Vec<Partition>) -> Config {
        let memory =
            Range::<HostPhysAddr>::new(HostPhysAddr::new(0x4000_0000), 0x100_0000).unwrap();
        let hypervisor = HypervisorConfig {
            memory,
            console: None,
        };
        Config {
            hypervisor,
            partitions,
            channels: vec![],
        }
    }

    fn board() -> Board {
        Board::load("qemu-virt-arm64").unwrap()
    }

    #[test]
    fn files_resolve_next_to_the_config_and_dedupe() {
        let config_file = repo::root().join("scripts/bulkhead/src/images.rs");
        let cfg = config(vec![
            partition("a", "main.rs", Some("../Cargo.toml")),
            partition("b", "main.rs", None),
        ]);
        let images = resolve(&cfg, &config_file, &board()).unwrap();
        let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["main.rs", "../Cargo.toml"]);
        assert!(images[1].path().ends_with("bulkhead/src/../Cargo.toml"));
    }

    #[test]
    fn missing_files_name_node_and_property() {
        let config_file = repo::root().join("boards/qemu-virt-arm64/config.dts");
        let cfg = config(vec![partition("a", "../nowhere/Image", Some("gone.img")), partition("b", "../x/y", None)]);
        let errors = resolve(&cfg, &config_file, &board()).unwrap_err();
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "every missing image: {errors:?}");
        assert!(errors[0].starts_with("/partitions/a: kernel: no such file: "), "{errors:?}");
        assert!(errors[1].starts_with("/partitions/a: initrd: no such file: "), "{errors:?}");
        assert!(errors[2].starts_with("/partitions/b: kernel: no such file: "), "{errors:?}");
    }

    #[test]
    fn unknown_guests_are_refused() {
        let config_file = repo::root().join("boards/qemu-virt-arm64/config.dts");
        let cfg = config(vec![partition("a", "no_such_guest", None)]);
        let err = resolve(&cfg, &config_file, &board()).unwrap_err()[0].to_string();
        assert!(
            err.contains("/partitions/a: kernel: no in-tree test guest `no_such_guest`"),
            "{err}"
        );
    }

    #[test]
    fn cache_names_resolve_below_the_cache() {
        let xdg = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(
            cache_dir(xdg("/x"), xdg("/home/u")).unwrap(),
            Path::new("/x/bulkhead")
        );
        assert_eq!(
            cache_dir(xdg(""), xdg("/home/u")).unwrap(),
            Path::new("/home/u/.cache/bulkhead")
        );
        assert!(cache_dir(None, None).is_err());

        // The crate's own folder stands in for a cache holding `src/images.rs`.
        let cache = repo::root().join("scripts/bulkhead");
        let name = "cache:src/images.rs";
        assert_eq!(
            cache_file(&cache, name, "src/images.rs").unwrap(),
            cache.join("src/images.rs")
        );
        let missing =
            cache_file(&cache, "cache:debian-arm64/vmlinuz", "debian-arm64/vmlinuz").unwrap_err();
        assert!(
            missing.starts_with("`cache:debian-arm64/vmlinuz` is not in the cache (")
                && missing.ends_with("): run scripts/setup"),
            "{missing}"
        );
        for bad in ["", "../Cargo.toml", "/etc/passwd", "src/../Cargo.toml"] {
            let err = cache_file(&cache, name, bad).unwrap_err();
            assert!(err.contains("relative path without `..`"), "{bad}: {err}");
        }
    }

    #[test]
    fn cache_names_are_files_not_guests() {
        let config_file = repo::root().join("boards/qemu-virt-arm64/config.dts");
        let cfg = config(vec![partition("a", "cache:no-such-dir/Image", None)]);
        let err = resolve(&cfg, &config_file, &board()).unwrap_err()[0].to_string();
        assert!(
            err.contains("/partitions/a: kernel: `cache:no-such-dir/Image` is not in the cache"),
            "{err}"
        );
    }

    #[test]
    fn bare_names_are_guests() {
        assert!(is_guest_name("hello"));
        assert!(!is_guest_name("Image.gz") && !is_guest_name("linux/Image"));
    }
}

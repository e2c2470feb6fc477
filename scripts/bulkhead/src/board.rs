//! Board descriptions: `boards/<name>/board.toml` says how to build and run a board.

use std::path::{Path, PathBuf};

use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::config::Target;
use serde::Deserialize;

use crate::error::{Context, Error, Result};
use crate::repo;

/// The contents of `board.toml`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct BoardFile {
    arch: String,
    target: String,
    package: String,
    config: String,
    platform: String,
    #[serde(default)]
    guest_target: Option<String>,
    #[serde(default)]
    guest_format: Option<String>,
    load_address: u64,
    #[serde(default)]
    image_format: Option<String>,
    #[serde(default)]
    emulator: Option<String>,
    #[serde(default)]
    qemu: Vec<String>,
    /// The Bochs configuration (read by the harness's emulator launcher).
    #[serde(default)]
    #[allow(dead_code)]
    bochsrc: Option<String>,
    /// Extra emulator arguments for test scenarios (read by the harness).
    #[serde(default)]
    #[allow(dead_code)]
    scenario_qemu: Vec<String>,
}

/// What `cargo bh image` makes for a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// The raw hypervisor with an arm64 `Image` header, the bundle appended (QEMU
    /// `-kernel`, U-Boot `booti`).
    Arm64Image,
    /// A GRUB rescue ISO: the hypervisor ELF loaded by Multiboot2, the bundle as its
    /// module (Bochs, QEMU `-cdrom`, a PC's USB stick).
    GrubIso,
}

/// One board: where its files are and how to build and run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// The board's name (its folder under `boards/`).
    pub name: String,
    /// The board's folder; also the hypervisor package's crate.
    pub dir: PathBuf,
    /// Architecture name used for guest folders (`ci/guests/<arch>`, `target/guests/<arch>`).
    pub arch: String,
    /// Rust target triple of the hypervisor and the guests.
    pub target: String,
    /// Rust target of the in-tree guests (default: `target`).
    pub guest_target: String,
    /// Cargo package of the board's hypervisor binary.
    pub package: String,
    /// Default config source (`config.dts`).
    pub config: PathBuf,
    /// Platform description source (`platform.dts`): the hardware the config runs on.
    pub platform: PathBuf,
    /// Where the boot loader puts the hypervisor image (its link address).
    pub load_address: u64,
    /// What `image` packs.
    pub image_format: ImageFormat,
    /// Whether in-tree guests are used as ELF files (x86: the boot protocol loads ELF
    /// segments) rather than raw binaries.
    pub guest_elf: bool,
    /// Emulator command line without the image (`-kernel <image>` is appended); empty
    /// for a board run by another emulator (the harness's launcher knows how).
    pub qemu: Vec<String>,
}

impl Board {
    /// Loads `boards/<name>/board.toml`.
    pub fn load(name: &str) -> Result<Self> {
        let boards = repo::root().join("boards");
        let dir = boards.join(name);
        let file = dir.join("board.toml");
        if name.is_empty() || name.contains(['/', '\\']) || !file.is_file() {
            return Err(Error::new(format!(
                "unknown board `{name}` (boards: {})",
                list(&boards).join(", ")
            )));
        }
        let text = std::fs::read_to_string(&file)
            .context(|| format!("cannot read {}", repo::show(&file)))?;
        Self::from_toml(name, &dir, &text)
            .map_err(|e| Error::new(format!("{}: {e}", repo::show(&file))))
    }

    /// Builds a board from the text of its `board.toml`.
    fn from_toml(name: &str, dir: &Path, text: &str) -> std::result::Result<Self, String> {
        let file: BoardFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let emulator = file.emulator.as_deref().unwrap_or("qemu");
        if emulator == "qemu" && file.qemu.is_empty() {
            return Err("qemu: needs at least the emulator's name".into());
        }
        let image_format = match file.image_format.as_deref().unwrap_or("arm64-image") {
            "arm64-image" => ImageFormat::Arm64Image,
            "grub-iso" => ImageFormat::GrubIso,
            other => return Err(format!("image_format: `{other}` is neither \"arm64-image\" nor \"grub-iso\"")),
        };
        let guest_elf = match file.guest_format.as_deref().unwrap_or("binary") {
            "binary" => false,
            "elf" => true,
            other => return Err(format!("guest_format: `{other}` is neither \"binary\" nor \"elf\"")),
        };
        Ok(Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            arch: file.arch,
            guest_target: file.guest_target.unwrap_or_else(|| file.target.clone()),
            target: file.target,
            package: file.package,
            config: dir.join(file.config),
            platform: dir.join(file.platform),
            load_address: file.load_address,
            image_format,
            guest_elf,
            qemu: file.qemu,
        })
    }

    /// The hypervisor build's rules for configs on this board (the same ones the
    /// hypervisor validates with at boot).
    pub fn target(&self) -> Result<Target> {
        let load = HostPhysAddr::new(self.load_address);
        match self.arch.as_str() {
            "aarch64" => Ok(bulkhead_aarch64::target::target(load)),
            "x86_64" => Ok(bulkhead_x86_64::target::target(load)),
            other => Err(Error::new(format!(
                "{}: arch: no validation rules for `{other}`",
                repo::show(&self.dir.join("board.toml"))
            ))),
        }
    }
}

/// Names of the boards that have a `board.toml`, sorted.
pub fn list(boards: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(boards) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("board.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        arch = "aarch64"
        target = "aarch64-unknown-none"
        package = "bulkhead-x"
        config = "config.dts"
        platform = "platform.dts"
        load_address = 0x40080000
        qemu = ["qemu-system-aarch64", "-M", "virt"]
    "#;

    #[test]
    fn reads_every_field() {
        let board = Board::from_toml("x", Path::new("boards/x"), SAMPLE).unwrap();
        assert_eq!(board.arch, "aarch64");
        assert_eq!(board.config, Path::new("boards/x/config.dts"));
        assert_eq!(board.platform, Path::new("boards/x/platform.dts"));
        assert_eq!(board.qemu[0], "qemu-system-aarch64");
    }

    #[test]
    fn rejects_unknown_and_missing_fields() {
        let extra = format!("{SAMPLE}\ncolour = \"red\"");
        assert!(Board::from_toml("x", Path::new("."), &extra)
            .unwrap_err()
            .contains("colour"));
        let missing = SAMPLE.replace("package = \"bulkhead-x\"", "");
        assert!(Board::from_toml("x", Path::new("."), &missing)
            .unwrap_err()
            .contains("package"));
    }

    #[test]
    fn every_board_in_the_tree_loads() {
        let names = list(&repo::root().join("boards"));
        assert!(names.iter().any(|n| n == "qemu-virt-arm64"));
        for name in names {
            Board::load(&name).unwrap();
        }
    }

    #[test]
    fn readme_example_is_the_default_config() {
        let readme = std::fs::read_to_string(repo::root().join("README.md")).unwrap();
        let config =
            std::fs::read_to_string(Board::load("qemu-virt-arm64").unwrap().config).unwrap();
        let block = format!("```dts\n{}\n```", config.trim_end());
        assert!(
            readme.contains(&block),
            "README.md's example differs from boards/qemu-virt-arm64/config.dts"
        );
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let err = Board::load("no-such-board").unwrap_err().to_string();
        assert!(err.contains("unknown board `no-such-board`") && err.contains("qemu-virt-arm64"));
    }
}

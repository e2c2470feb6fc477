//! Bundle images: built through the CLI (`cargo bh image`), once per (board, config).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::tail;

/// A built bundle and the hypervisor ELF that decodes its log.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image given to the emulator with `-kernel`.
    pub path: PathBuf,
    /// The hypervisor ELF with the defmt table, if one was written.
    pub elf: Option<PathBuf>,
    /// How long the build took.
    pub build_seconds: f64,
}

/// Images built so far in this run, successes and failures alike (a failed build is not
/// retried for the next scenario that needs it).
#[derive(Debug, Default)]
pub struct ImageCache {
    built: HashMap<(String, PathBuf), Result<Image, String>>,
}

impl ImageCache {
    /// The image for `board` and `config` (relative to `root`); built on first use.
    /// The second element says whether this call built it.
    pub fn get(
        &mut self,
        root: &Path,
        board: &str,
        config: &Path,
    ) -> (Result<Image, String>, bool) {
        let key = (board.to_string(), config.to_path_buf());
        let fresh = !self.built.contains_key(&key);
        let entry = self
            .built
            .entry(key)
            .or_insert_with(|| build(root, board, config));
        (entry.clone(), fresh)
    }
}

/// Runs `cargo bh image <board> --config <config> -o <out>` from the repository root.
pub fn build(root: &Path, board: &str, config: &Path) -> Result<Image, String> {
    let out = output_path(root, board, config);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["bh", "image", board, "--config"])
        .arg(config)
        .arg("-o")
        .arg(&out);
    let shown = format!(
        "cargo bh image {board} --config {} -o {}",
        config.display(),
        out.display()
    );
    let started = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("image build: cannot run `{shown}`: {e}"))?;
    let build_seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "image build failed: `{shown}` ({})\n{}{}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout), 10),
            tail(&String::from_utf8_lossy(&output.stderr), 40)
        ));
    }
    if !out.is_file() {
        return Err(format!(
            "image build: `{shown}` succeeded but wrote no {}",
            out.display()
        ));
    }
    let elf = elf_candidates(root, board, &out)
        .into_iter()
        .find(|p| p.is_file());
    Ok(Image {
        path: out,
        elf,
        build_seconds,
    })
}

/// `target/scenarios/images/<board>/<config path with separators flattened>`. The name has
/// no dot, so the CLI's `<out>.elf` and "`<out>` with extension `.elf`" are the same file.
pub fn output_path(root: &Path, board: &str, config: &Path) -> PathBuf {
    let flat: String = config
        .with_extension("")
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join("target/scenarios/images").join(board).join(flat)
}

/// Where the CLI puts the hypervisor ELF: beside the image, else the board's default.
pub fn elf_candidates(root: &Path, board: &str, image: &Path) -> Vec<PathBuf> {
    vec![
        image.with_extension("elf"),
        root.join("target/bulkhead")
            .join(board)
            .join("bulkhead.elf"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_path_is_flat_and_dotless() {
        let root = Path::new("/r");
        let out = output_path(
            root,
            "qemu-virt-arm64",
            Path::new("ci/scenarios/configs/probe.v2.dts"),
        );
        assert_eq!(
            out,
            Path::new("/r/target/scenarios/images/qemu-virt-arm64/ci_scenarios_configs_probe_v2")
        );
        let elf = &elf_candidates(root, "qemu-virt-arm64", &out)[0];
        assert_eq!(
            elf.as_os_str().to_string_lossy(),
            format!("{}.elf", out.display())
        );
    }

    #[test]
    fn distinct_configs_get_distinct_images() {
        let root = Path::new("/r");
        let a = output_path(root, "b", Path::new("boards/b/config.dts"));
        let c = output_path(root, "b", Path::new("ci/scenarios/configs/config.dts"));
        assert_ne!(a, c);
    }
}

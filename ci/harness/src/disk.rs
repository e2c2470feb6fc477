//! Disk images a scenario gives its emulator (`[[disk]]`): small ext2 file systems made
//! with `mke2fs -d` right before QEMU starts, so every run begins from the same files
//! and no image is ever committed. The scenario's `qemu_extra` attaches them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// One disk: where the image goes and which files it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The image file, relative to the repository root, below `target/`.
    pub path: PathBuf,
    /// Size of the file system.
    pub size_mib: u32,
    /// Files at the top of the file system: name → contents.
    pub files: BTreeMap<String, String>,
}

/// Largest disk a scenario may ask for: these are test fixtures, not root file systems.
pub const MAX_SIZE_MIB: u32 = 64;

impl Disk {
    /// Checks a `[[disk]]` table; `qemu_extra` must mention the path (else the disk
    /// would be made and never attached). Errors name the field.
    pub fn new(
        index: usize,
        path: &str,
        size_mib: u32,
        files: BTreeMap<String, String>,
        qemu_extra: &[String],
    ) -> Result<Self, String> {
        let field = |name: &str| format!("disk[{index}].{name}");
        let rel = Path::new(path);
        let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain || !rel.starts_with("target") || rel == Path::new("target") {
            return Err(format!(
                "{}: `{path}` must be a relative path below target/ without `..`",
                field("path")
            ));
        }
        if !qemu_extra.iter().any(|arg| arg.contains(path)) {
            return Err(format!(
                "{}: `{path}` is not attached: no qemu_extra argument mentions it",
                field("path")
            ));
        }
        if size_mib == 0 || size_mib > MAX_SIZE_MIB {
            return Err(format!(
                "{}: {size_mib} is outside 1..={MAX_SIZE_MIB}",
                field("size_mib")
            ));
        }
        if files.is_empty() {
            return Err(format!(
                "{}: empty (a disk with nothing to read)",
                field("files")
            ));
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if let Some(bad) = files
            .keys()
            .find(|n| n.is_empty() || n.starts_with('.') || !n.chars().all(safe))
        {
            return Err(format!(
                "{}: `{bad}` is not a plain file name ([A-Za-z0-9._-], not starting with `.`)",
                field("files")
            ));
        }
        Ok(Self {
            path: rel.to_path_buf(),
            size_mib,
            files,
        })
    }

    /// Makes the image under `root`, replacing any earlier one.
    pub fn make(&self, root: &Path) -> Result<(), String> {
        let image = root.join(&self.path);
        let at = |e: std::io::Error, p: &Path| format!("disk {}: {e}", p.display());
        let staging = image.with_extension("files");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| at(e, &staging))?;
        for (name, contents) in &self.files {
            let file = staging.join(name);
            std::fs::write(&file, contents).map_err(|e| at(e, &file))?;
        }
        let _ = std::fs::remove_file(&image);
        let made = mke2fs(&staging, &image, self.size_mib);
        let _ = std::fs::remove_dir_all(&staging);
        made.map_err(|e| format!("disk {}: {e}", self.path.display()))
    }
}

/// `mke2fs -t ext2 -d DIR IMAGE <size>M`: an ext2 file system holding DIR's files,
/// made without root (no loop mount).
fn mke2fs(dir: &Path, image: &Path, size_mib: u32) -> Result<(), String> {
    let output = Command::new(mke2fs_program())
        .args(["-q", "-F", "-t", "ext2", "-d"])
        .arg(dir)
        .arg(image)
        .arg(format!("{size_mib}M"))
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "mke2fs not found: install e2fsprogs (scripts/setup)".to_string()
            }
            _ => format!("cannot run mke2fs: {e}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "mke2fs failed ({}): {}",
        output.status,
        stderr.split_whitespace().collect::<Vec<_>>().join(" ")
    ))
}

/// `mke2fs` from PATH, else from the sbin folders a non-root user's PATH often lacks.
fn mke2fs_program() -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    in_path
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("mke2fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("mke2fs"))
}

#[cfg(test)]
mod tests;

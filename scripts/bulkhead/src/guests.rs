//! In-tree crates' binaries: which bins a crate has, the way cargo discovers them.
//!
//! Used for the test guests (`ci/guests/<arch>`: every bin is a guest image) and for a
//! board's hypervisor crate. Reading the manifest and `src/` directly keeps `check`
//! quick: no `cargo metadata` run.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::repo;

/// A crate's package name and its binary names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateBins {
    /// `package.name` from the manifest.
    pub package: String,
    /// Binary target names, sorted.
    pub bins: Vec<String>,
}

/// The folder of the in-tree test guests for `arch`.
pub fn guest_dir(arch: &str) -> PathBuf {
    repo::root().join("ci/guests").join(arch)
}

/// Where `cargo bh build` puts the image of in-tree guest `name`: a raw binary
/// (`.bin`), or for boards whose partitions boot ELF files, the ELF (`.elf`).
pub fn guest_image(arch: &str, name: &str, elf: bool) -> PathBuf {
    repo::target_dir()
        .join("guests")
        .join(arch)
        .join(format!("{name}.{}", if elf { "elf" } else { "bin" }))
}

/// The package and bins of the crate in `dir`: `[[bin]]` entries, plus (unless
/// `autobins = false`) `src/main.rs`, `src/bin/<name>.rs` and `src/bin/<name>/main.rs`
/// where no `[[bin]]` entry already names that file or that name.
pub fn crate_bins(dir: &Path) -> Result<CrateBins> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .context(|| format!("cannot read {}", repo::show(&manifest)))?;
    let table: toml::Table = toml::from_str(&text).context(|| repo::show(&manifest))?;
    let package_table = table.get("package");
    let package = package_table
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| Error::new(format!("{}: no package.name", repo::show(&manifest))))?
        .to_string();
    let explicit = explicit_bins(&table);
    let mut bins: Vec<String> = explicit.iter().map(|(name, _)| name.clone()).collect();
    let autobins = package_table
        .and_then(|p| p.get("autobins"))
        .and_then(|a| a.as_bool());
    if autobins != Some(false) {
        let taken = |name: &str, path: &Path| {
            explicit
                .iter()
                .any(|(n, p)| n == name || p.as_deref() == Some(path))
        };
        let found = discovered_bins(dir, &package);
        bins.extend(
            found
                .into_iter()
                .filter(|(n, p)| !taken(n, p))
                .map(|(n, _)| n),
        );
    }
    bins.sort();
    bins.dedup();
    Ok(CrateBins { package, bins })
}

/// `[[bin]]` entries: name and, when given, path relative to the crate.
fn explicit_bins(table: &toml::Table) -> Vec<(String, Option<PathBuf>)> {
    let Some(list) = table.get("bin").and_then(|b| b.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|b| {
            let name = b.get("name")?.as_str()?.to_string();
            let path = b.get("path").and_then(|p| p.as_str()).map(PathBuf::from);
            Some((name, path))
        })
        .collect()
}

/// Bins cargo infers: name and path relative to the crate.
fn discovered_bins(dir: &Path, package: &str) -> Vec<(String, PathBuf)> {
    let mut bins = Vec::new();
    if dir.join("src/main.rs").is_file() {
        bins.push((package.to_string(), PathBuf::from("src/main.rs")));
    }
    let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) else {
        return bins;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
            continue;
        };
        let file_name = entry.file_name();
        let relative = Path::new("src/bin").join(&file_name);
        if path.is_dir() && path.join("main.rs").is_file() {
            bins.push((stem, relative.join("main.rs")));
        } else if path.extension().is_some_and(|e| e == "rs") {
            bins.push((stem, relative));
        }
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bh-guests-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/bin/three")).unwrap();
        dir
    }

    #[test]
    fn finds_bins_like_cargo() {
        let dir = scratch("auto");
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"g\"\n[[bin]]\nname = \"x\"\npath = \"x.rs\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("src/main.rs"), "").unwrap();
        std::fs::write(dir.join("src/bin/one.rs"), "").unwrap();
        std::fs::write(dir.join("src/bin/notes.txt"), "").unwrap();
        std::fs::write(dir.join("src/bin/three/main.rs"), "").unwrap();
        let found = crate_bins(&dir).unwrap();
        assert_eq!(found.package, "g");
        assert_eq!(found.bins, ["g", "one", "three", "x"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_explicit_bin_replaces_the_inferred_one_for_its_file() {
        let dir = scratch("renamed");
        let manifest = "[package]\nname = \"g\"\n[[bin]]\nname = \"hb\"\npath = \"src/main.rs\"\n";
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        std::fs::write(dir.join("src/main.rs"), "").unwrap();
        assert_eq!(crate_bins(&dir).unwrap().bins, ["hb"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn autobins_false_keeps_only_explicit_bins() {
        let dir = scratch("explicit");
        let manifest = "[package]\nname = \"g\"\nautobins = false\n[[bin]]\nname = \"x\"\n";
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        std::fs::write(dir.join("src/bin/one.rs"), "").unwrap();
        assert_eq!(crate_bins(&dir).unwrap().bins, ["x"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_aarch64_guest_crate_is_readable() {
        let found = crate_bins(&guest_dir("aarch64")).unwrap();
        assert_eq!(found.package, "bulkhead-testguest-aarch64");
    }
}

//! Where things are in the repository: its root, the target directory, shown paths.

use std::path::{Path, PathBuf};

/// The repository root: two levels above this crate's manifest (`scripts/bulkhead`).
///
/// Taken from `CARGO_MANIFEST_DIR` at compile time; `cargo bh` always builds the CLI
/// from the checkout it runs in, so this is that checkout.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The workspace target directory, where cargo and the CLI put every build product.
pub fn target_dir() -> PathBuf {
    root().join("target")
}

/// Output directory of a board's image (`target/bulkhead/<board>`).
pub fn board_out(board: &str) -> PathBuf {
    target_dir().join("bulkhead").join(board)
}

/// `path` as a person should see it: relative to the current directory when it lies
/// below it, else relative to the repository root, else as it is.
pub fn show(path: &Path) -> String {
    let bases = std::env::current_dir().into_iter().chain([root()]);
    for base in bases {
        if let Ok(rel) = path.strip_prefix(&base) {
            if !rel.as_os_str().is_empty() {
                return rel.display().to_string();
            }
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_workspace_manifest() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("scripts/bulkhead/Cargo.toml").is_file());
    }

    #[test]
    fn shown_paths_are_relative_to_the_repository() {
        let path = root().join("boards/x/config.dts");
        assert!(show(&path).ends_with("boards/x/config.dts"));
        assert!(!show(&path).starts_with('/'));
    }
}

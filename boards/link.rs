//! The build script of every board crate (`build = "../link.rs"` in its Cargo.toml):
//! link arguments only (STYLE 12). The architecture's shared layout
//! (`arch/<arch>/link.ld`) at the board's load address, both read from the board's
//! `board.toml` (the one place they are written), plus defmt's section script.

use std::path::Path;

/// The value of `key = value` in board.toml (quotes removed).
fn setting(text: &str, key: &str) -> String {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix('=').map(str::trim))
        .unwrap_or_else(|| panic!("board.toml has no `{key} = ...`"));
    value.trim_matches('"').to_string()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let board = dir.join("board.toml");
    let text = std::fs::read_to_string(&board).expect("board.toml is readable");
    let layout = dir.join("../../arch").join(setting(&text, "arch")).join("link.ld");
    println!("cargo:rustc-link-arg-bins=--defsym=__load_base={}", setting(&text, "load_address"));
    println!("cargo:rustc-link-arg-bins=-T{}", layout.display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed={}", layout.display());
    println!("cargo:rerun-if-changed={}", board.display());
}

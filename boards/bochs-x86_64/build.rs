//! Link arguments only (STYLE 12): the shared x86_64 layout at this board's load address
//! (`load_address` in board.toml, the one place it is written), plus defmt's section
//! script.

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let arch = dir.join("../../arch/x86_64/link.ld");
    let board = dir.join("board.toml");
    let text = std::fs::read_to_string(&board).expect("board.toml is readable");
    let load = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("load_address")?.trim().strip_prefix('=').map(str::trim))
        .expect("board.toml has `load_address = 0x...`");
    println!("cargo:rustc-link-arg-bins=--defsym=__load_base={load}");
    println!("cargo:rustc-link-arg-bins=-T{}", arch.display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed={}", arch.display());
    println!("cargo:rerun-if-changed={}", board.display());
    println!("cargo:rerun-if-changed=build.rs");
}

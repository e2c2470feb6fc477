//! Link arguments for the position-independent guest image (STYLE 12: link args only).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed={dir}/link.ld");
    println!("cargo:rerun-if-changed=build.rs");
    // Only the bare-metal build gets the linker script; `cargo check` on the host is unaffected.
    if std::env::var("TARGET").is_ok_and(|t| t == "aarch64-unknown-none") {
        for arg in [
            "-T",
            &format!("{dir}/link.ld"),
            "-pie",
            "--no-dynamic-linker",
            "-z",
            "notext",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

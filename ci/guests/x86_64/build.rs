//! Link arguments only (STYLE 12): the bare-metal build is laid out by link.ld.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed={dir}/link.ld");
    println!("cargo:rerun-if-changed=build.rs");
    // Only the bare-metal build gets the linker script; a host `cargo check` is unaffected.
    if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
        for arg in ["-T", &format!("{dir}/link.ld"), "-z", "max-page-size=4096"] {
            println!("cargo:rustc-link-arg-bin=heartbeat={arg}");
        }
    }
}

//! Link arguments (STYLE 12: link args only): the bare-metal guests are position-independent
//! images laid out by link.ld; `bench-linux-init` is a Linux program and gets lld's defaults.

/// Binaries laid out by link.ld (linked at 0, relocated at run time).
const BARE_METAL: [&str; 2] = ["heartbeat", "bench"];

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed={dir}/link.ld");
    println!("cargo:rerun-if-changed=build.rs");
    // Only the bare-metal build gets the linker script; `cargo check` on the host is unaffected.
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("aarch64-unknown-none")) {
        for bin in BARE_METAL {
            for arg in [
                "-T",
                &format!("{dir}/link.ld"),
                "-pie",
                "--no-dynamic-linker",
                "-z",
                "notext",
            ] {
                println!("cargo:rustc-link-arg-bin={bin}={arg}");
            }
        }
    }
}

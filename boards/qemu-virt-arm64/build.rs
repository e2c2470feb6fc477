//! Link arguments only (STYLE 12): the shared aarch64 layout at this board's load
//! address, plus defmt's section script.

fn main() {
    let arch = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../arch/aarch64/link.ld");
    // QEMU loads an arm64 Image at RAM base (0x40000000) + text_offset (0x80000).
    println!("cargo:rustc-link-arg-bins=--defsym=__load_base=0x40080000");
    println!("cargo:rustc-link-arg-bins=-T{}", arch.display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed={}", arch.display());
    println!("cargo:rerun-if-changed=build.rs");
}

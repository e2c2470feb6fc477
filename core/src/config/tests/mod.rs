//! Host tests of the config reader, the platform reader and validation.
//!
//! Test blobs come from DTS text compiled by `dtc` at test time (as the CLI does), or
//! from [`Raw`] where a test needs a blob `dtc` would refuse to write.

mod malformed;
mod parse;
mod platform;
mod validate;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::config::{Config, Platform};
pub use crate::dt::tests::Raw;

/// The demo board's platform description.
pub const BOARD_PLATFORM: &str = include_str!("../../../../boards/qemu-virt-arm64/platform.dts");
/// The demo config.
pub const BOARD_CONFIG: &str = include_str!("../../../../boards/qemu-virt-arm64/config.dts");
/// What QEMU 7.2 itself generates for the board (seeds removed).
pub const QEMU_PLATFORM: &str = include_str!("../../../tests/fixtures/qemu-7.2-virt-gicv3.dts");

/// Compile DTS `source` to a DTB with `dtc`.
pub fn dtc(source: &str) -> Vec<u8> {
    let mut child = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dtc is installed (apt-get install device-tree-compiler)");
    child.stdin.take().expect("piped stdin").write_all(source.as_bytes()).expect("write to dtc");
    let out = child.wait_with_output().expect("dtc runs");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dtc failed: {errors}\n{source}");
    out.stdout
}

/// `source` compiled once per test run.
fn cached(cell: &'static OnceLock<Vec<u8>>, source: &str) -> &'static [u8] {
    cell.get_or_init(|| dtc(source))
}

/// The demo board's platform DTB.
pub fn board_platform_dtb() -> &'static [u8] {
    static DTB: OnceLock<Vec<u8>> = OnceLock::new();
    cached(&DTB, BOARD_PLATFORM)
}

/// The demo config DTB.
pub fn board_config_dtb() -> &'static [u8] {
    static DTB: OnceLock<Vec<u8>> = OnceLock::new();
    cached(&DTB, BOARD_CONFIG)
}

/// The demo board's platform, read.
pub fn board() -> Platform {
    Platform::from_dtb(board_platform_dtb()).expect("the board platform reads")
}

/// A config: the demo's root and `/hypervisor`, then `body` (partitions, channels).
pub fn config(body: &str) -> String {
    format!(
        r#"/dts-v1/;
/ {{
    compatible = "bulkhead,config-v1";
    #address-cells = <2>;
    #size-cells = <2>;
    hypervisor {{
        memory = <0x0 0x40000000 0x0 0x04000000>;
        console = "/pl011@9000000";
    }};
    {body}
}};
"#
    )
}

/// A partition node named `name` on `cpus` with `extra` properties and one identity
/// 16 MiB region at `base`.
pub fn part(name: &str, cpus: &str, base: u64, extra: &str) -> String {
    format!(
        r#"{name} {{
    #address-cells = <2>;
    #size-cells = <2>;
    cpus = <{cpus}>;
    kernel = "heartbeat";
    {extra}
    memory@{base:x} {{ reg = <0x0 {base:#x} 0x0 0x1000000>; }};
}};
"#
    )
}

/// `partitions { … };` around the given partition nodes.
pub fn partitions(nodes: &[String]) -> String {
    format!("partitions {{\n{}\n}};\n", nodes.concat())
}

/// Parse `source`, returning the error as its message.
pub fn parse_src(source: &str) -> Result<Config, String> {
    crate::config::parse(&dtc(source)).map_err(|e| e.to_string())
}

/// Parse `source` and validate it against the demo board, errors as messages.
pub fn check(source: &str) -> Result<Config, String> {
    let config = parse_src(source)?;
    crate::config::validate(&config, &board()).map_err(|e| e.to_string())
}

/// The error message of a config that must fail validation.
pub fn check_err(source: &str) -> String {
    match check(source) {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(e) => e,
    }
}

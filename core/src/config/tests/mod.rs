//! Host tests of the config reader, the platform reader and validation.
//!
//! Test blobs come from DTS text compiled by `dtc` at test time (as the CLI does), or
//! from [`Raw`] where a test needs a blob `dtc` would refuse to write.

mod boot;
mod errors;
mod malformed;
mod parse;
mod platform;
mod target;
mod validate;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};
use crate::config::{
    BootImages, Config, ConfigError, Footprint, GuestView, Partition, Placement, Platform,
    Target, Window,
};
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

/// A GICv3-like build for the tests: 8 CPUs, 40-bit spaces, the emulated GICD (64 KiB)
/// and one 128 KiB redistributor frame per vCPU where the platform's GIC is, a 4 KiB
/// virtual console where its first PL011 is; SPIs as doorbells. The real aarch64
/// target lives in its arch crate; this one only exercises core's rules.
pub fn target() -> Target {
    Target {
        max_cpus: 8,
        max_vcpus: 16,
        ipa_bits: 40,
        pa_bits: 40,
        console_uarts: &["arm,pl011"],
        uarts: &["arm,pl011", "ns16550a"],
        doorbells: (32, 1019),
        guest: test_view,
        place: test_place,
        table_frames: Some(|regions| Ok(regions.len() * 3 + 2)),
        footprint: Footprint {
            load: HostPhysAddr::new(0x4008_0000),
            image_max: 1 << 20,
            heap: 8 << 20,
            frames: 4 << 20,
        },
    }
}

fn test_view(platform: &Platform, p: &Partition) -> Result<GuestView, ConfigError> {
    let gic = platform
        .devices
        .iter()
        .find(|d| d.compatible.iter().any(|c| c == "arm,gic-v3"))
        .ok_or_else(|| ConfigError::node("/", "the platform has no GICv3"))?;
    let window = |start: u64, size: u64, what: &str| {
        let range = Range::new(GuestPhysAddr::new(start), size);
        let range = range.ok_or_else(|| ConfigError::node(&gic.path, "a window wraps"))?;
        Ok::<_, ConfigError>(Window { range, what: what.into() })
    };
    // A damaged platform may have lost them (validation goes on after the hypervisor's
    // own resources fail, so this runs for the never-panics tests too).
    let [gicd, gicr, ..] = gic.mmio.as_slice() else {
        return Err(ConfigError::node(&gic.path, "the GIC needs GICD and GICR frames"));
    };
    let mut windows = vec![
        window(gicd.start.as_u64(), 0x1_0000, "the emulated GICD")?,
        window(gicr.start.as_u64(), 0x2_0000 * p.cpus.len() as u64, "the emulated GICR frames")?,
    ];
    let mut interrupts: Vec<u32> = (16..32).collect();
    let uart = platform.devices.iter().find(|d| d.compatible.iter().any(|c| c == "arm,pl011"));
    let uart = uart.and_then(|u| Some((u, u.mmio.first()?)));
    if let (crate::config::ConsoleKind::Virtual, Some((uart, mmio))) = (&p.console, uart) {
        windows.push(window(mmio.start.as_u64(), 0x1000, "the virtual console")?);
        interrupts.extend(uart.interrupts.first());
    }
    Ok(GuestView { windows, ports: Vec::new(), interrupts })
}

fn test_place(p: &Partition, images: &BootImages<'_>) -> Result<Placement, ConfigError> {
    let ram = p.memory[0].guest;
    let kernel = p.boot.load.unwrap_or(ram.start);
    let info = ram.last().align_down(2 << 20);
    let need = images.kernel.len() as u64 + images.initrd.map_or(0, |i| i.len() as u64);
    if kernel.as_u64() + need > info.as_u64() {
        return Err(ConfigError::property(&p.node, "kernel", "the images do not fit"));
    }
    Ok(Placement { kernel, entry: kernel, info, info_max: 2 << 20, initrd: None })
}

/// Parse `source` and validate it against the demo board, errors as messages.
pub fn check(source: &str) -> Result<Config, String> {
    let config = parse_src(source)?;
    crate::config::validate(&config, &board(), &target()).map_err(|e| e.to_string())
}

/// The error message of a config that must fail validation.
pub fn check_err(source: &str) -> String {
    match check(source) {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(e) => e,
    }
}

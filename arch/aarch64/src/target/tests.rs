//! The ARM64 rules on the real board files: the demo config passes, each window and
//! placement rule refuses with its line.

use std::io::Write;
use std::process::{Command, Stdio};

use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::config::{check_boot, parse, validate, Platform};

use super::target;

fn dtc(source: &str) -> Vec<u8> {
    let mut child = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dtc is installed");
    child.stdin.take().unwrap().write_all(source.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dtc failed on\n{source}");
    out.stdout
}

const PLATFORM: &str = include_str!("../../../../boards/qemu-virt-arm64/platform.dts");
const CONFIG: &str = include_str!("../../../../boards/qemu-virt-arm64/config.dts");
const LINUX: &str = include_str!("../../../../boards/qemu-virt-arm64/linux.dts");
const LOAD: HostPhysAddr = HostPhysAddr::new(0x4008_0000);

fn platform() -> Platform {
    Platform::from_dtb(&dtc(PLATFORM)).unwrap()
}

#[test]
fn the_boards_configs_pass() {
    for source in [CONFIG, LINUX] {
        let config = parse(&dtc(source)).unwrap();
        validate(&config, &platform(), &target(LOAD)).unwrap();
    }
}

#[test]
fn guest_ram_over_the_emulated_gic_is_refused() {
    let moved = CONFIG.replace(
        "memory@54000000 {\n\t\t\t\treg = <0x0 0x54000000 0x0 0x01000000>;",
        "memory@8000000 {\n\t\t\t\treg = <0x0 0x08000000 0x0 0x01000000>;\n\t\t\t\thost-address = <0x0 0x54000000>;",
    );
    assert_ne!(moved, CONFIG);
    let config = parse(&dtc(&moved)).unwrap();
    assert_eq!(
        validate(&config, &platform(), &target(LOAD)).unwrap_err().to_string(),
        "/partitions/gamma/memory@8000000: reg: GPA:0x8000000..GPA:0x9000000 overlaps the emulated GICD (GPA:0x8000000..GPA:0x8010000)"
    );
}

#[test]
fn a_platform_without_a_gicv3_is_refused() {
    let v2 = PLATFORM.replace("\"arm,gic-v3\"", "\"arm,cortex-a15-gic\"");
    let platform = Platform::from_dtb(&dtc(&v2)).unwrap();
    let config = parse(&dtc(CONFIG)).unwrap();
    assert_eq!(
        validate(&config, &platform, &target(LOAD)).unwrap_err().to_string(),
        "/: the platform has no GICv3 (compatible \"arm,gic-v3\"), the interrupt controller this build drives"
    );
}

/// An arm64 `Image` header: text_offset 0, image_size `size`.
fn image(size: u64) -> Vec<u8> {
    let mut k = vec![0u8; 4096];
    k[16..24].copy_from_slice(&size.to_le_bytes());
    k[0x38..0x3c].copy_from_slice(b"ARM\x64");
    k
}

#[test]
fn a_kernel_too_large_for_its_region_is_refused_with_sizes() {
    let config = validate(&parse(&dtc(CONFIG)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let big = image(15 << 20);
    let err = check_boot(&config, &target(LOAD), |_| Ok(&big[..]), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/partitions/alpha: kernel: kernel, initrd and device tree do not fit (kernel 15360 KiB, initrd 0 KiB, device tree up to 2048 KiB) in /partitions/alpha/memory@50000000 (16384 KiB)"
    );
    let small = image(1 << 20);
    let placed = check_boot(&config, &target(LOAD), |_| Ok(&small[..]), 1 << 20).unwrap();
    assert_eq!(placed[1].kernel.as_u64(), 0x5200_0000);
    assert_eq!(placed[1].info.as_u64(), 0x52e0_0000);
}

#[test]
fn a_load_address_in_a_second_region_places_everything_there() {
    let two = CONFIG.replace(
        "memory@54000000 {\n\t\t\t\treg = <0x0 0x54000000 0x0 0x01000000>;\n\t\t\t};",
        "memory@54000000 {\n\t\t\t\treg = <0x0 0x54000000 0x0 0x01000000>;\n\t\t\t};\n\t\t\tmemory@56000000 {\n\t\t\t\treg = <0x0 0x56000000 0x0 0x00800000>;\n\t\t\t};",
    )
    .replace("cpus = <3>;", "cpus = <3>;\n\t\t\tload-address = <0x0 0x56000000>;");
    assert_ne!(two, CONFIG);
    let config = validate(&parse(&dtc(&two)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let kernel = [0u8; 4096];
    let placed = check_boot(&config, &target(LOAD), |_| Ok(&kernel[..]), 0).unwrap();
    assert_eq!(placed[2].kernel.as_u64(), 0x5600_0000);
    assert_eq!(placed[2].info.as_u64(), 0x5660_0000);
}

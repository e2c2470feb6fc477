//! The x86 rules on the Bochs board files.

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

const PLATFORM: &str = include_str!("../../../../boards/bochs-x86_64/platform.dts");
const CONFIG: &str = include_str!("../../../../boards/bochs-x86_64/config.dts");
const LOAD: HostPhysAddr = HostPhysAddr::new(0x10_0000);

fn platform() -> Platform {
    Platform::from_dtb(&dtc(PLATFORM)).unwrap()
}

fn elf(paddr: u64, len: usize, entry: u64) -> Vec<u8> {
    let mut e = vec![0u8; 120];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2;
    e[5] = 1;
    e[18] = 62;
    e[24..32].copy_from_slice(&entry.to_le_bytes());
    e[32..40].copy_from_slice(&64u64.to_le_bytes());
    e[54] = 56;
    e[56] = 1;
    e[64] = 1;
    e[64 + 8..64 + 16].copy_from_slice(&120u64.to_le_bytes());
    e[64 + 24..64 + 32].copy_from_slice(&paddr.to_le_bytes());
    e[64 + 32..64 + 40].copy_from_slice(&(len as u64).to_le_bytes());
    e[64 + 40..64 + 48].copy_from_slice(&(len as u64).to_le_bytes());
    e.resize(120 + len, 0x90);
    e
}

#[test]
fn the_demo_config_passes_and_places_an_elf() {
    let config = validate(&parse(&dtc(CONFIG)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let kernel = elf(0x10_0000, 0x3000, 0x10_0010);
    let placed = check_boot(&config, &target(LOAD), |_| Ok(&kernel[..]), 64 << 10).unwrap();
    assert_eq!(placed[0].entry.as_u64(), 0x10_0010);
    assert_eq!(placed[0].info.as_u64(), 0x7000);
}

#[test]
fn x86_layout_rules_name_their_property() {
    let moved = CONFIG.replacen("reg = <0x0 0x0 0x0 0x01000000>;", "reg = <0x0 0x100000 0x0 0x01000000>;", 1).replacen("memory@0 {", "memory@100000 {", 1);
    let config = validate(&parse(&dtc(&moved)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let kernel = elf(0x10_0000, 0x3000, 0x10_0010);
    let err = check_boot(&config, &target(LOAD), |_| Ok(&kernel[..]), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/partitions/alpha/memory@100000: reg: an x86 partition's first region must start at guest-physical 0 and hold at least 2 MiB (doc/x86.md)"
    );
    let config = validate(&parse(&dtc(CONFIG)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let low = elf(0x8000, 0x100, 0x8000);
    let err = check_boot(&config, &target(LOAD), |_| Ok(&low[..]), 0).unwrap_err();
    assert!(err.to_string().starts_with("/partitions/alpha: kernel: its segment at GPA:0x8000..GPA:0x8100 is not inside"), "{err}");
    let arm = b"\x7fELF\x02\x01".to_vec();
    let err = check_boot(&config, &target(LOAD), |_| Ok(&arm[..]), 0).unwrap_err();
    assert!(err.to_string().contains("x86 partitions boot ELF64 images"), "{err}");
}

#[test]
fn passthrough_ports_over_emulated_ones_and_kept_devices_are_refused() {
    let com2 = CONFIG.replacen("console = \"virtual\";", "devices = \"/serial@2f8\"; console = \"/serial@2f8\";", 1);
    validate(&parse(&dtc(&com2)).unwrap(), &platform(), &target(LOAD)).unwrap();
    let pic = CONFIG.replacen("console = \"virtual\";", "console = \"virtual\"; devices = \"/pic@20\";", 1);
    let err = validate(&parse(&dtc(&pic)).unwrap(), &platform(), &target(LOAD)).unwrap_err();
    assert_eq!(err.to_string(), "/partitions/alpha: devices: \"/pic@20\" is a device the hypervisor keeps");
    let hv = CONFIG.replacen("console = \"virtual\";", "console = \"virtual\"; devices = \"/serial@3f8\";", 1);
    let err = validate(&parse(&dtc(&hv)).unwrap(), &platform(), &target(LOAD)).unwrap_err();
    assert_eq!(err.to_string(), "/partitions/alpha: devices: \"/serial@3f8\" is the hypervisor's console");
}

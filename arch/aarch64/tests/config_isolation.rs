//! Config to isolation with the VMSAv8-64 stage-2 format and the real ARM64 build's
//! rules: for random configs validation accepts, every partition's tables map exactly
//! its RAM, devices and channels, and partitions share host frames only in channels.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use bulkhead_aarch64::stage2::Aarch64Stage2;
use bulkhead_aarch64::target::target;
use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::config::{parse, validate, Platform};
use bulkhead_core::stage2::conformance;

/// Where the boot loader puts the hypervisor image on the demo board.
const LOAD: HostPhysAddr = HostPhysAddr::new(0x4008_0000);

fn dtc(source: &str) -> Vec<u8> {
    let mut child = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dtc is installed (apt-get install device-tree-compiler)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dtc failed on\n{source}");
    out.stdout
}

#[test]
fn tables_map_exactly_what_the_config_grants() {
    let start = Instant::now();
    let platform = conformance::config_platform();
    let coverage = conformance::config_isolation(&Aarch64Stage2::new(), &platform, &target(LOAD));
    eprintln!("VMSAv8-64: {coverage}; {:.2?}", start.elapsed());
}

/// The property's platform is hand-built (the board has 1 GiB of RAM, too little for
/// 1 GiB blocks beside the hypervisor); every device it shares with the board's
/// platform.dts must be the board's, read the way the CLI reads it.
#[test]
fn the_property_platform_agrees_with_the_board() {
    const BOARD: &str = include_str!("../../../boards/qemu-virt-arm64/platform.dts");
    let board = Platform::from_dtb(&dtc(BOARD)).unwrap();
    let ours = conformance::config_platform();
    let mut shared = 0;
    for device in &ours.devices {
        if let Some(theirs) = board.device(&device.path) {
            assert_eq!(device, theirs, "{} differs from the board's", device.path);
            shared += 1;
        }
    }
    assert!(
        shared >= 8,
        "only {shared} devices in common with the board"
    );
    assert_eq!(ours.psci_method, board.psci_method);
    for cpu in &board.cpus {
        assert_eq!(ours.cpu(cpu.id), Some(cpu), "the board's CPU {}", cpu.id);
    }
    assert!(
        ours.ram_covers(&board.memory[0]),
        "the board's RAM is the property's too"
    );
}

/// `config_isolation` found this: a device whose registers sit in platform RAM (here the
/// property platform's framebuffer at 0x48000000) was passed through while the same
/// frames were another partition's RAM, a channel or the hypervisor's memory.
#[test]
fn a_device_in_ram_shares_its_frames_with_nobody() {
    let config = |hypervisor: u64, alpha: &str, beta: &str, channels: &str| {
        let part = |name: &str, cpu: u32, body: &str| {
            format!(
                "{name} {{ #address-cells = <2>; #size-cells = <2>; cpus = <{cpu}>; \
                 kernel = \"k\"; {body} }};"
            )
        };
        let source = format!(
            "/dts-v1/; / {{ compatible = \"bulkhead,config-v1\"; #address-cells = <2>; \
             #size-cells = <2>; hypervisor {{ memory = <0x0 {hypervisor:#x} 0x0 0x4000000>; }}; \
             partitions {{ {} {} }}; {channels} }};",
            part("alpha", 0, alpha),
            part("beta", 1, beta)
        );
        let config = parse(&dtc(&source)).unwrap();
        let platform = conformance::config_platform();
        validate(&config, &platform, &target(LOAD))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let ram = |at: u64| format!("memory@{at:x} {{ reg = <0x0 {at:#x} 0x0 0x200000>; }};");
    let fb = "devices = \"/framebuffer@48000000\";";
    let (low, over) = (ram(0x4400_0000), ram(0x4800_0000));
    assert_eq!(config(0x4000_0000, &(fb.to_string() + &low), &over, ""), Err(
        "/partitions/beta/memory@48000000: reg: HPA:0x48000000..HPA:0x48200000 overlaps the MMIO of \
         \"/framebuffer@48000000\" (partition \"alpha\", page HPA:0x48000000)".into()
    ));
    assert_eq!(config(0x4000_0000, &over, &(fb.to_string() + &low), ""), Err(
        "/partitions/beta: devices: \"/framebuffer@48000000\" has MMIO on HPA:0x48000000, which \
         overlaps /partitions/alpha/memory@48000000 (HPA:0x48000000..HPA:0x48200000)".into()
    ));
    assert_eq!(config(0x4600_0000, &(fb.to_string() + &low), &ram(0x4460_0000), ""), Err(
        "/partitions/alpha: devices: \"/framebuffer@48000000\" has MMIO on HPA:0x48000000, which \
         overlaps the hypervisor's memory (HPA:0x46000000..HPA:0x4a000000)".into()
    ));
    let channel = "channels { #address-cells = <2>; #size-cells = <2>; ch { \
        partitions = \"alpha\", \"beta\"; reg = <0x0 0x48400000 0x0 0x1000>; \
        guest-addresses = <0x0 0x70000000 0x0 0x70000000>; doorbell = <100>; }; };";
    assert_eq!(config(0x4000_0000, &(fb.to_string() + &low), &ram(0x4460_0000), channel), Err(
        "/partitions/alpha: devices: \"/framebuffer@48000000\" has MMIO on HPA:0x48400000, which \
         overlaps channel /channels/ch (HPA:0x48400000..HPA:0x48401000)".into()
    ));
    // Clear of everybody's RAM, the device is fine.
    assert_eq!(
        config(0x4000_0000, &(fb.to_string() + &low), &ram(0x4a00_0000), ""),
        Ok(())
    );
}

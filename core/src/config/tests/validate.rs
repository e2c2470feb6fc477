//! Validation: one test per rule, each asserting the exact message.

use super::{board, check, check_err, config, dtc, part, partitions, BOARD_CONFIG};
use crate::addr::{HostPhysAddr, Range};
use crate::config::{check_images, parse, validate, Device};

const A: u64 = 0x5000_0000;
const B: u64 = 0x5200_0000;

/// alpha (cpu 0, 16 MiB at `A`) with `alpha_extra`, beta (cpu 1, at `B`) with
/// `beta_extra`, then `rest` (channels).
fn two(alpha_extra: &str, beta_extra: &str, rest: &str) -> String {
    config(
        &(partitions(&[part("alpha", "0", A, alpha_extra), part("beta", "1", B, beta_extra)])
            + rest),
    )
}

fn channel(body: &str) -> String {
    format!("channels {{ link {{ {body} }}; }};")
}

const GOOD_LINK: &str = r#"partitions = "alpha", "beta"; reg = <0x0 0x56000000 0x0 0x1000>;
    guest-addresses = <0x0 0x70000000 0x0 0x70000000>; doorbell = <40>;"#;

#[test]
fn board_config_is_valid_on_the_board_and_on_qemus_own_dtb() {
    let config = parse(&dtc(BOARD_CONFIG)).unwrap();
    assert_eq!(validate(&config, &board(), &super::target()), Ok(config.clone()));
    let qemu = crate::config::Platform::from_dtb(&dtc(super::QEMU_PLATFORM)).unwrap();
    assert_eq!(validate(&config, &qemu, &super::target()), Ok(config));
}

#[test]
fn devices_are_resolved_from_the_platform() {
    let source = two(r#"devices = "/pl031@9010000";"#, r#"devices = "/virtio_mmio@a000000";"#, "");
    let config = check(&source).unwrap();
    let mmio =
        |base, size| vec![Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size).unwrap()];
    assert_eq!(
        config.partitions[0].devices,
        vec![Device {
            path: "/pl031@9010000".into(),
            mmio: mmio(0x901_0000, 0x1000),
            interrupts: vec![34],
            ports: vec![],
            dma: false
        }]
    );
    assert_eq!(
        config.partitions[1].devices,
        vec![Device {
            path: "/virtio_mmio@a000000".into(),
            mmio: mmio(0xa00_0000, 0x200),
            interrupts: vec![48],
            ports: vec![],
            dma: true
        }]
    );
}

#[test]
fn a_good_channel_passes() {
    assert!(check(&two("", "", &channel(GOOD_LINK))).is_ok());
}

#[test]
fn partition_without_cpu() {
    assert_eq!(
        check_err(&config(&partitions(&[part("alpha", "", A, "")]))),
        "/partitions/alpha: cpus: no CPU given"
    );
}

#[test]
fn partition_without_memory() {
    let alpha = part("alpha", "0", A, "")
        .replace("memory@50000000 { reg = <0x0 0x50000000 0x0 0x1000000>; };", "");
    assert_eq!(
        check_err(&config(&partitions(&[alpha]))),
        "/partitions/alpha: no memory region (add a memory@<address> node)"
    );
}

#[test]
fn no_partition_at_all() {
    assert_eq!(check_err(&config("partitions { };")), "/partitions: no partition");
}

#[test]
fn cpu_not_in_platform() {
    assert_eq!(
        check_err(&config(&partitions(&[part("alpha", "0 7", A, "")]))),
        "/partitions/alpha: cpus: cpu 7 is not in the platform (its CPUs: 0, 1, 2, 3)"
    );
}

#[test]
fn cpu_given_to_two_partitions() {
    let source = config(&partitions(&[part("alpha", "0 2", A, ""), part("beta", "2", B, "")]));
    assert_eq!(
        check_err(&source),
        r#"/partitions/beta: cpus: cpu 2 is already given to partition "alpha""#
    );
}

#[test]
fn cpu_listed_twice() {
    assert_eq!(
        check_err(&config(&partitions(&[part("alpha", "1 1", A, "")]))),
        "/partitions/alpha: cpus: cpu 1 is listed twice"
    );
}

/// A config with alpha's region replaced by `region`.
fn alpha_region(region: &str) -> String {
    let alpha = part("alpha", "0", A, "")
        .replace("memory@50000000 { reg = <0x0 0x50000000 0x0 0x1000000>; };", region);
    config(&partitions(&[alpha]))
}

#[test]
fn region_base_not_aligned() {
    let region = "memory@50000800 { reg = <0x0 0x50000800 0x0 0x1000>; };";
    assert_eq!(
        check_err(&alpha_region(region)),
        "/partitions/alpha/memory@50000800: reg: GPA:0x50000800 is not 4 KiB aligned"
    );
}

#[test]
fn region_size_not_aligned() {
    let region = "memory@50000000 { reg = <0x0 0x50000000 0x0 0x1800>; };";
    assert_eq!(
        check_err(&alpha_region(region)),
        "/partitions/alpha/memory@50000000: reg: size 0x1800 is not a multiple of 4 KiB"
    );
}

#[test]
fn region_host_address_not_aligned() {
    let region =
        "memory@50000000 { reg = <0x0 0x50000000 0x0 0x1000>; host-address = <0x0 0x50000010>; };";
    assert_eq!(
        check_err(&alpha_region(region)),
        "/partitions/alpha/memory@50000000: host-address: HPA:0x50000010 is not 4 KiB aligned"
    );
}

#[test]
fn region_outside_platform_ram() {
    let region = "memory@80000000 { reg = <0x0 0x80000000 0x0 0x1000000>; };";
    assert_eq!(
        check_err(&alpha_region(region)),
        "/partitions/alpha/memory@80000000: reg: HPA:0x80000000..HPA:0x81000000 is not platform RAM"
    );
    let straddling = "memory@7f800000 { reg = <0x0 0x7f800000 0x0 0x1000000>; };";
    assert_eq!(
        check_err(&alpha_region(straddling)),
        "/partitions/alpha/memory@7f800000: reg: HPA:0x7f800000..HPA:0x80800000 is not platform RAM"
    );
    let placed =
        "memory@80000000 { reg = <0x0 0x80000000 0x0 0x1000>; host-address = <0x0 0x3ffff000>; };";
    assert_eq!(
        check_err(&alpha_region(placed)),
        "/partitions/alpha/memory@80000000: host-address: HPA:0x3ffff000..HPA:0x40000000 is not platform RAM"
    );
}

#[test]
fn region_overlaps_another_partition() {
    let source =
        config(&partitions(&[part("alpha", "0", A, ""), part("beta", "1", 0x5080_0000, "")]));
    assert_eq!(
        check_err(&source),
        "/partitions/beta/memory@50800000: reg: HPA:0x50800000..HPA:0x51800000 overlaps \
         /partitions/alpha/memory@50000000 (HPA:0x50000000..HPA:0x51000000)"
    );
}

#[test]
fn placed_region_overlaps_another_partition() {
    let region =
        "memory@60000000 { reg = <0x0 0x60000000 0x0 0x1000>; host-address = <0x0 0x50fff000>; };";
    assert_eq!(
        check_err(&two("", region, "")),
        "/partitions/beta/memory@60000000: host-address: HPA:0x50fff000..HPA:0x51000000 overlaps \
         /partitions/alpha/memory@50000000 (HPA:0x50000000..HPA:0x51000000)"
    );
}

#[test]
fn region_overlaps_the_hypervisor() {
    let region = "memory@43000000 { reg = <0x0 0x43000000 0x0 0x2000000>; };";
    assert_eq!(
        check_err(&alpha_region(region)),
        "/partitions/alpha/memory@43000000: reg: HPA:0x43000000..HPA:0x45000000 overlaps \
         the hypervisor's memory (HPA:0x40000000..HPA:0x44000000)"
    );
}

#[test]
fn region_overlaps_a_channel() {
    let link = GOOD_LINK.replace("0x56000000", "0x52fff000");
    assert_eq!(
        check_err(&two("", "", &channel(&link))),
        "/partitions/beta/memory@52000000: reg: HPA:0x52000000..HPA:0x53000000 overlaps \
         channel /channels/link (HPA:0x52fff000..HPA:0x53000000)"
    );
}

#[test]
fn regions_of_one_partition_overlap_in_guest_space() {
    let second =
        "memory@50fff000 { reg = <0x0 0x50fff000 0x0 0x2000>; host-address = <0x0 0x60000000>; };";
    assert_eq!(
        check_err(&config(&partitions(&[part("alpha", "0", A, second)]))),
        "/partitions/alpha/memory@50000000: reg: GPA:0x50000000..GPA:0x51000000 overlaps \
         /partitions/alpha/memory@50fff000 (GPA:0x50fff000..GPA:0x51001000)"
    );
}

#[test]
fn load_address_outside_memory() {
    assert_eq!(
        check_err(&config(&partitions(&[part(
            "alpha",
            "0",
            A,
            "load-address = <0x0 0x51000000>;"
        )]))),
        "/partitions/alpha: load-address: GPA:0x51000000 is outside the partition's memory"
    );
}

#[test]
fn device_not_in_platform() {
    assert_eq!(
        check_err(&two(r#"devices = "/uart@9000000";"#, "", "")),
        r#"/partitions/alpha: devices: "/uart@9000000" is not a platform device"#
    );
}

#[test]
fn device_given_to_two_partitions() {
    let dev = r#"devices = "/pl031@9010000";"#;
    assert_eq!(
        check_err(&two(dev, dev, "")),
        r#"/partitions/beta: devices: "/pl031@9010000" is already given to partition "alpha""#
    );
}

#[test]
fn device_listed_twice() {
    assert_eq!(
        check_err(&two(r#"devices = "/pl031@9010000", "/pl031@9010000";"#, "", "")),
        r#"/partitions/alpha: devices: "/pl031@9010000" is listed twice"#
    );
}

#[test]
fn device_is_an_interrupt_controller() {
    assert_eq!(
        check_err(&two(r#"devices = "/intc@8000000";"#, "", "")),
        r#"/partitions/alpha: devices: "/intc@8000000" is an interrupt controller, which the hypervisor keeps"#
    );
    assert_eq!(
        check_err(&two(r#"devices = "/intc@8000000/its@8080000";"#, "", "")),
        r#"/partitions/alpha: devices: "/intc@8000000/its@8080000" is an interrupt controller, which the hypervisor keeps"#
    );
}

#[test]
fn device_is_the_hypervisor_console() {
    assert_eq!(
        check_err(&two(r#"devices = "/pl011@9000000";"#, "", "")),
        r#"/partitions/alpha: devices: "/pl011@9000000" is the hypervisor's console"#
    );
}

#[test]
fn device_shares_an_mmio_page_with_another_partition() {
    let source =
        two(r#"devices = "/virtio_mmio@a000000";"#, r#"devices = "/virtio_mmio@a000200";"#, "");
    assert_eq!(
        check_err(&source),
        r#"/partitions/beta: devices: "/virtio_mmio@a000200" shares MMIO page HPA:0xa000000 with "/virtio_mmio@a000000" of partition "alpha""#
    );
    // Within one partition, sharing a page is fine.
    assert!(
        check(&two(r#"devices = "/virtio_mmio@a000000", "/virtio_mmio@a000200";"#, "", "")).is_ok()
    );
}

#[test]
fn dma_device_needs_identity_placed_memory() {
    let region =
        "memory@60000000 { reg = <0x0 0x60000000 0x0 0x1000>; host-address = <0x0 0x58000000>; };";
    let extra = format!(r#"devices = "/virtio_mmio@a000000"; {region}"#);
    assert_eq!(
        check_err(&config(&partitions(&[part("alpha", "0", A, &extra)]))),
        r#"/partitions/alpha: devices: "/virtio_mmio@a000000" can do DMA and needs identity-placed memory: there is no IOMMU (/partitions/alpha/memory@60000000 is at HPA:0x58000000)"#
    );
    // The same placement without the DMA-capable device is fine.
    assert!(check(&config(&partitions(&[part("alpha", "0", A, region)]))).is_ok());
}

#[test]
fn console_not_owned() {
    assert_eq!(
        check_err(&two(r#"console = "/pl031@9010000";"#, r#"devices = "/pl031@9010000";"#, "")),
        r#"/partitions/alpha: console: "/pl031@9010000" is not one of this partition's devices"#
    );
    assert!(
        check(&two(r#"devices = "/pl031@9010000"; console = "/pl031@9010000";"#, "", "")).is_ok()
    );
}

#[test]
fn hypervisor_memory_rules() {
    let outside = config(&partitions(&[part("alpha", "0", A, "")]))
        .replace("0x0 0x40000000 0x0 0x04000000", "0x0 0x3f000000 0x0 0x04000000");
    assert_eq!(
        check_err(&outside),
        "/hypervisor: memory: HPA:0x3f000000..HPA:0x43000000 is not platform RAM"
    );
    let unaligned = config(&partitions(&[part("alpha", "0", A, "")]))
        .replace("0x0 0x40000000 0x0 0x04000000", "0x0 0x40000000 0x0 0x04000100");
    assert_eq!(
        check_err(&unaligned),
        "/hypervisor: memory: size 0x4000100 is not a multiple of 4 KiB"
    );
}

#[test]
fn hypervisor_console_not_in_platform() {
    let source = config(&partitions(&[part("alpha", "0", A, "")]))
        .replace("/pl011@9000000", "/pl011@9040000");
    assert_eq!(
        check_err(&source),
        r#"/hypervisor: console: "/pl011@9040000" is not a platform device (did you mean "/pl011@9000000"?)"#
    );
}

#[test]
fn channel_with_one_partition() {
    let link = GOOD_LINK.replace(r#""alpha", "beta""#, r#""alpha""#);
    assert_eq!(
        check_err(&two("", "", &channel(&link))),
        "/channels/link: partitions: expected two or more partition names"
    );
}

#[test]
fn channel_names_an_unknown_partition() {
    let link = GOOD_LINK.replace(r#""beta""#, r#""zeta""#);
    assert_eq!(
        check_err(&two("", "", &channel(&link))),
        r#"/channels/link: partitions: no partition is named "zeta" (did you mean "beta"?)"#
    );
}

#[test]
fn channel_names_a_partition_twice() {
    let link = GOOD_LINK.replace(r#""beta""#, r#""alpha""#);
    assert_eq!(
        check_err(&two("", "", &channel(&link))),
        r#"/channels/link: partitions: "alpha" is listed twice"#
    );
}

#[test]
fn channel_guest_address_count_mismatch() {
    let link = GOOD_LINK.replace("<0x0 0x70000000 0x0 0x70000000>", "<0x0 0x70000000>");
    assert_eq!(
        check_err(&two("", "", &channel(&link))),
        "/channels/link: guest-addresses: expected 2 addresses (one per partition), got 1"
    );
}

#[test]
fn channel_memory_rules() {
    let unaligned = GOOD_LINK.replace("0x56000000 0x0 0x1000", "0x56000000 0x0 0x800");
    assert_eq!(
        check_err(&two("", "", &channel(&unaligned))),
        "/channels/link: reg: size 0x800 is not a multiple of 4 KiB"
    );
    let outside = GOOD_LINK.replace("0x56000000", "0x80000000");
    assert_eq!(
        check_err(&two("", "", &channel(&outside))),
        "/channels/link: reg: HPA:0x80000000..HPA:0x80001000 is not platform RAM"
    );
    let in_hypervisor = GOOD_LINK.replace("0x56000000", "0x43fff000");
    assert_eq!(
        check_err(&two("", "", &channel(&in_hypervisor))),
        "/channels/link: reg: HPA:0x43fff000..HPA:0x44000000 overlaps the hypervisor's memory (HPA:0x40000000..HPA:0x44000000)"
    );
}

#[test]
fn channels_overlap_each_other() {
    let second = GOOD_LINK.replace("0x70000000", "0x71000000");
    let channels = format!("channels {{ link {{ {GOOD_LINK} }}; link2 {{ {second} }}; }};");
    assert_eq!(
        check_err(&two("", "", &channels)),
        "/channels/link2: reg: HPA:0x56000000..HPA:0x56001000 overlaps channel /channels/link (HPA:0x56000000..HPA:0x56001000)"
    );
}

#[test]
fn channel_guest_window_rules() {
    let unaligned =
        GOOD_LINK.replace("0x0 0x70000000 0x0 0x70000000", "0x0 0x70000000 0x0 0x70000800");
    assert_eq!(
        check_err(&two("", "", &channel(&unaligned))),
        "/channels/link: guest-addresses: GPA:0x70000800 is not 4 KiB aligned"
    );
    let over_ram =
        GOOD_LINK.replace("0x0 0x70000000 0x0 0x70000000", "0x0 0x70000000 0x0 0x52fff000");
    assert_eq!(
        check_err(&two("", "", &channel(&over_ram))),
        r#"/channels/link: guest-addresses: GPA:0x52fff000..GPA:0x53000000 (partition "beta") overlaps /partitions/beta/memory@52000000 (GPA:0x52000000..GPA:0x53000000)"#
    );
}

#[test]
fn images_must_exist() {
    let config = parse(&dtc(&two(r#"initrd = "rootfs.cpio";"#, "", ""))).unwrap();
    assert_eq!(check_images(&config, |_| true), Ok(()));
    let missing = check_images(&config, |name| name != "rootfs.cpio").unwrap_err();
    assert_eq!(missing.to_string(), r#"/partitions/alpha: initrd: file "rootfs.cpio" not found"#);
    let missing = check_images(&config, |_| false).unwrap_err();
    assert_eq!(missing.to_string(), r#"/partitions/alpha: kernel: file "heartbeat" not found"#);
}

#[test]
fn device_mmio_lands_on_guest_ram() {
    let region =
        "memory@9000000 { reg = <0x0 0x9000000 0x0 0x1000000>; host-address = <0x0 0x58000000>; };";
    let source = config(&partitions(&[part(
        "alpha",
        "0",
        A,
        &format!(r#"devices = "/pl031@9010000"; console = "none"; {region}"#),
    )]));
    assert_eq!(
        check_err(&source),
        r#"/partitions/alpha: devices: "/pl031@9010000" is mapped at GPA:0x9010000..GPA:0x9011000 (guest = host), which overlaps /partitions/alpha/memory@9000000 (GPA:0x9000000..GPA:0xa000000)"#
    );
}

#[test]
fn channel_window_lands_on_a_device() {
    let link = GOOD_LINK.replace("0x0 0x70000000 0x0 0x70000000", "0x0 0x9010000 0x0 0x70000000");
    assert_eq!(
        check_err(&two(r#"devices = "/pl031@9010000";"#, "", &channel(&link))),
        r#"/channels/link: guest-addresses: GPA:0x9010000..GPA:0x9011000 (partition "alpha") overlaps /pl031@9010000 (GPA:0x9010000..GPA:0x9011000)"#
    );
}

#[test]
fn device_shares_an_mmio_page_with_the_hypervisor() {
    // A made-up platform whose UART shares a page with the GIC distributor.
    let platform = super::BOARD_PLATFORM
        .replace("reg = <0x00 0x9010000 0x00 0x1000>;", "reg = <0x00 0x800f000 0x00 0x100>;");
    let platform = crate::config::Platform::from_dtb(&dtc(&platform)).unwrap();
    let config = parse(&dtc(&two(r#"devices = "/pl031@9010000";"#, "", ""))).unwrap();
    assert_eq!(
        validate(&config, &platform, &super::target()).unwrap_err().to_string(),
        r#"/partitions/alpha: devices: "/pl031@9010000" shares MMIO page HPA:0x800f000 with "/intc@8000000" of the hypervisor"#
    );
}

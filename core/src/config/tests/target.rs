//! The rules a hypervisor build adds (`Target`): one test per rule, exact messages.

use super::{board, check_err, config, dtc, part, partitions, target, BOARD_PLATFORM};
use crate::config::{check_platform, parse, validate, Platform};

const A: u64 = 0x5000_0000;
const B: u64 = 0x5200_0000;

/// The demo board's platform with `nodes` added at the root.
fn platform_with(nodes: &str) -> Platform {
    let end = BOARD_PLATFORM.rfind("};").expect("root closes");
    let source = format!("{}{nodes}\n{}", &BOARD_PLATFORM[..end], &BOARD_PLATFORM[end..]);
    Platform::from_dtb(&dtc(&source)).expect("the extended platform reads")
}

/// A second PL011 (SPI 8) and two devices sharing SPI 9, plus one using PPI 11 (INTID
/// 27, the virtual timer's).
const EXTRA: &str = r#"
    uart2: pl011@9040000 { compatible = "arm,pl011", "arm,primecell"; reg = <0x0 0x9040000 0x0 0x1000>;
        interrupts = <0x0 0x8 0x4>; };
    dev@9050000 { compatible = "acme,dev"; reg = <0x0 0x9050000 0x0 0x1000>; interrupts = <0x0 0x9 0x4>; };
    dev@9060000 { compatible = "acme,dev"; reg = <0x0 0x9060000 0x0 0x1000>; interrupts = <0x0 0x9 0x4>; };
    dev@9070000 { compatible = "acme,dev"; reg = <0x0 0x9070000 0x0 0x1000>; interrupts = <0x1 0xb 0x4>; };
"#;

fn check_on(platform: &Platform, source: &str) -> String {
    let config = parse(&dtc(source)).expect("parses");
    match validate(&config, platform, &target()) {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(e) => e.to_string(),
    }
}

fn two(alpha: &str, beta: &str, rest: &str) -> String {
    config(&(partitions(&[part("alpha", "0", A, alpha), part("beta", "1", B, beta)]) + rest))
}

#[test]
fn a_platform_with_more_cpus_than_the_build_supports_is_refused() {
    let mut t = target();
    t.max_cpus = 2;
    assert_eq!(
        check_platform(&board(), &t).unwrap_err().to_string(),
        "/cpus: the platform has 4 CPUs; this hypervisor build supports at most 2"
    );
}

#[test]
fn a_partition_with_more_vcpus_than_the_build_supports_is_refused() {
    let mut t = target();
    t.max_vcpus = 1;
    let source = config(&partitions(&[part("alpha", "0 1", A, "")]));
    let config = parse(&dtc(&source)).unwrap();
    assert_eq!(
        validate(&config, &board(), &t).unwrap_err().to_string(),
        "/partitions/alpha: cpus: 2 CPUs; a partition can have at most 1 vCPUs"
    );
}

#[test]
fn the_hypervisor_console_must_be_a_uart_the_build_drives() {
    let source = config(&partitions(&[part("alpha", "0", A, "")])).replace(
        r#"console = "/pl011@9000000";"#,
        r#"console = "/pl031@9010000";"#,
    );
    assert_eq!(
        check_err(&source),
        r#"/hypervisor: console: "/pl031@9010000" is not a UART this hypervisor build can drive (compatible with one of: arm,pl011)"#
    );
}

#[test]
fn guest_ram_beyond_the_ipa_space_is_refused() {
    let region = "memory@10000000000 { reg = <0x100 0x0 0x0 0x1000>; host-address = <0x0 0x58000000>; };";
    let source = config(&partitions(&[part("alpha", "0", A, region)]));
    assert_eq!(
        check_err(&source),
        "/partitions/alpha/memory@10000000000: reg: GPA:0x10000000000..GPA:0x10000001000 is beyond the 40-bit guest-physical address space"
    );
}

#[test]
fn guest_ram_over_an_emulated_window_is_refused() {
    let region = "memory@8000000 { reg = <0x0 0x8000000 0x0 0x10000>; host-address = <0x0 0x58000000>; };";
    let source = config(&partitions(&[part("alpha", "0", A, region)]));
    assert_eq!(
        check_err(&source),
        "/partitions/alpha/memory@8000000: reg: GPA:0x8000000..GPA:0x8010000 overlaps the emulated GICD (GPA:0x8000000..GPA:0x8010000)"
    );
    let console = "memory@9000000 { reg = <0x0 0x9000000 0x0 0x1000>; host-address = <0x0 0x58000000>; };";
    let source = config(&partitions(&[part("alpha", "0", A, console)]));
    assert!(check_err(&source).ends_with("overlaps the virtual console (GPA:0x9000000..GPA:0x9001000)"));
}

#[test]
fn a_channel_window_over_an_emulated_window_is_refused() {
    let link = r#"channels { link { partitions = "alpha", "beta"; reg = <0x0 0x56000000 0x0 0x1000>;
        guest-addresses = <0x0 0x70000000 0x0 0x80a0000>; doorbell = <40>; }; };"#;
    assert_eq!(
        check_err(&two("", "", link)),
        r#"/channels/link: guest-addresses: partition "beta": GPA:0x80a0000..GPA:0x80a1000 overlaps the emulated GICR frames (GPA:0x80a0000..GPA:0x80c0000)"#
    );
}

#[test]
fn an_interrupt_line_owned_twice_is_refused() {
    let source = two(r#"devices = "/dev@9050000";"#, r#"devices = "/dev@9060000";"#, "");
    assert_eq!(
        check_on(&platform_with(EXTRA), &source),
        r#"/partitions/beta: devices: "/dev@9060000": interrupt 41 is already "/dev@9050000" of partition "alpha""#
    );
}

#[test]
fn a_device_on_an_interrupt_the_hypervisor_delivers_is_refused() {
    let source = two(r#"devices = "/dev@9070000";"#, "", "");
    assert_eq!(
        check_on(&platform_with(EXTRA), &source),
        r#"/partitions/alpha: devices: "/dev@9070000": interrupt 27 is one the hypervisor delivers to the partition itself (timer or virtual console)"#
    );
}

#[test]
fn a_uart_beside_a_default_virtual_console_must_be_named() {
    let source = two(r#"devices = "/pl011@9040000";"#, "", "");
    assert_eq!(
        check_on(&platform_with(EXTRA), &source),
        r#"/partitions/alpha: console: the partition owns the UART "/pl011@9040000": say console = "/pl011@9040000" to drive it, or console = "virtual" for an emulated one beside it"#
    );
    let named = two(r#"devices = "/pl011@9040000"; console = "/pl011@9040000";"#, "", "");
    let config = parse(&dtc(&named)).unwrap();
    validate(&config, &platform_with(EXTRA), &target()).unwrap();
}

#[test]
fn doorbells_must_be_free_valid_interrupts() {
    let link = |id: u32| {
        format!(
            r#"channels {{ link {{ partitions = "alpha", "beta"; reg = <0x0 0x56000000 0x0 0x1000>;
            guest-addresses = <0x0 0x70000000 0x0 0x70000000>; doorbell = <{id}>; }}; }};"#
        )
    };
    assert_eq!(
        check_err(&two("", "", &link(27))),
        "/channels/link: doorbell: 27 is not a doorbell interrupt this build can raise (32..=1019)"
    );
    assert_eq!(
        check_err(&two(r#"devices = "/virtio_mmio@a000000";"#, "", &link(48))),
        r#"/channels/link: doorbell: 48 is the interrupt of "/virtio_mmio@a000000" (partition "alpha")"#
    );
    // Without a hypervisor console, INTID 33 is only the partitions' virtual consoles'.
    let quiet = two("", "", &link(33)).replace(r#"console = "/pl011@9000000";"#, "");
    assert_eq!(
        check_err(&quiet),
        r#"/channels/link: doorbell: 33 is an interrupt the hypervisor delivers to partition "alpha" itself"#
    );
    let twice = r#"channels { one { partitions = "alpha", "beta"; reg = <0x0 0x56000000 0x0 0x1000>;
        guest-addresses = <0x0 0x70000000 0x0 0x70000000>; doorbell = <40>; };
        two { partitions = "beta", "alpha"; reg = <0x0 0x56001000 0x0 0x1000>;
        guest-addresses = <0x0 0x70001000 0x0 0x70001000>; doorbell = <40>; }; };"#;
    assert_eq!(
        check_err(&two("", "", twice)),
        r#"/channels/two: doorbell: 40 is already the doorbell of /channels/one in partition "beta""#
    );
}

/// Port devices: two UART-like devices whose ranges overlap, a kept device, one clear.
const PORTS: &str = r#"
    com2 { compatible = "ns16550a"; io-ports = <0x2f8 8>; };
    alias2 { compatible = "acme,port"; io-ports = <0x2fc 4>; };
    pic { compatible = "intel,8259"; io-ports = <0x20 2>; bulkhead,hypervisor-owned; };
    gpio { compatible = "acme,gpio"; io-ports = <0x500 16>; };
"#;

#[test]
fn io_ports_are_read_from_the_platform() {
    let p = platform_with(PORTS);
    let com2 = p.device("/com2").expect("a port-only device is a device");
    assert_eq!(com2.ports.len(), 1);
    assert_eq!((com2.ports[0].start.as_u64(), com2.ports[0].size), (0x2f8, 8));
    assert!(p.device("/pic").unwrap().kept());
    let bad = platform_with_err(r#"bad { io-ports = <0xfffc 8>; };"#);
    assert_eq!(bad, "/bad: io-ports: 0xfffc + 0x8 is not inside ports 0..=0xffff");
}

fn platform_with_err(nodes: &str) -> String {
    let end = BOARD_PLATFORM.rfind("};").expect("root closes");
    let source = format!("{}{nodes}\n{}", &BOARD_PLATFORM[..end], &BOARD_PLATFORM[end..]);
    Platform::from_dtb(&dtc(&source)).unwrap_err().to_string()
}

#[test]
fn port_ranges_are_owned_once_and_kept_devices_never() {
    let source = two(r#"devices = "/gpio", "/com2"; console = "virtual";"#, r#"devices = "/alias2";"#, "");
    assert_eq!(
        check_on(&platform_with(PORTS), &source),
        r#"/partitions/beta: devices: "/alias2": ports PORT:0x2fc..PORT:0x300 overlap PORT:0x2f8..PORT:0x300 ("/com2") of partition "alpha""#
    );
    let kept = two(r#"devices = "/pic";"#, "", "");
    assert_eq!(check_on(&platform_with(PORTS), &kept), r#"/partitions/alpha: devices: "/pic" is a device the hypervisor keeps"#);
}

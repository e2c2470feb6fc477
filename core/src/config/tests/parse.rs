//! The config schema: what parses into what, and every kind of rejection.

use super::{config, dtc, parse_src, part, partitions, BOARD_CONFIG};
use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};
use crate::config::{
    parse, BadAccessPolicy, Boot, Channel, Config, ConsoleKind, Device, HypervisorConfig, MemoryRegion,
    Partition, RestartPolicy,
};

fn demo_partition(name: &str, cpus: &[u64], base: u64, restart: RestartPolicy) -> Partition {
    Partition {
        name: name.into(),
        node: format!("/partitions/{name}"),
        cpus: cpus.to_vec(),
        memory: vec![MemoryRegion {
            node: format!("/partitions/{name}/memory@{base:x}"),
            guest: Range::<GuestPhysAddr>::new(GuestPhysAddr::new(base), 0x100_0000).unwrap(),
            host: HostPhysAddr::new(base),
        }],
        devices: vec![],
        boot: Boot {
            kernel: "heartbeat".into(),
            initrd: None,
            dtb: None,
            bootargs: None,
            load: None,
        },
        console: ConsoleKind::Virtual,
        console_given: true,
        restart,
        bad_access: BadAccessPolicy::Stop,
    }
}

#[test]
fn board_config_parses_to_the_demo() {
    let expected = Config {
        hypervisor: HypervisorConfig {
            memory: Range::<HostPhysAddr>::new(HostPhysAddr::new(0x4000_0000), 0x400_0000).unwrap(),
            console: Some("/pl011@9000000".into()),
        },
        partitions: vec![
            demo_partition("alpha", &[0, 1], 0x5000_0000, RestartPolicy::Restart),
            demo_partition("beta", &[2], 0x5200_0000, RestartPolicy::Halt),
            demo_partition("gamma", &[3], 0x5400_0000, RestartPolicy::Halt),
        ],
        channels: vec![],
    };
    assert_eq!(parse(&dtc(BOARD_CONFIG)), Ok(expected));
}

#[test]
fn every_optional_property_parses() {
    let extra = r#"
        initrd = "initrd.cpio";
        dtb = "own.dtb";
        bootargs = "console=ttyAMA0";
        load-address = <0x0 0x50080000>;
        devices = "/pl031@9010000", "/virtio_mmio@a000000";
        console = "/pl031@9010000";
        bad-access = "abort";"#;
    let region = r#"memory@60000000 { reg = <0x0 0x60000000 0x0 0x200000>; host-address = <0x0 0x58000000>; };"#;
    let alpha = part("alpha", "0", 0x5000_0000, &format!("{extra}\n{region}"));
    let channel = r#"channels { link { partitions = "alpha", "beta";
        reg = <0x0 0x56000000 0x0 0x1000>; guest-addresses = <0x0 0x70000000 0x0 0x71000000>;
        doorbell = <40>; }; };"#;
    let source = config(&(partitions(&[alpha, part("beta", "1", 0x5200_0000, "")]) + channel));
    let config = parse_src(&source).unwrap();
    let alpha = &config.partitions[0];
    assert_eq!(alpha.boot.initrd.as_deref(), Some("initrd.cpio"));
    assert_eq!(alpha.boot.dtb.as_deref(), Some("own.dtb"));
    assert_eq!(alpha.boot.bootargs.as_deref(), Some("console=ttyAMA0"));
    assert_eq!(alpha.boot.load, Some(GuestPhysAddr::new(0x5008_0000)));
    let path_only =
        |path: &str| Device { path: path.into(), mmio: vec![], interrupts: vec![], ports: vec![], dma: false };
    assert_eq!(alpha.devices, vec![path_only("/pl031@9010000"), path_only("/virtio_mmio@a000000")]);
    assert_eq!(alpha.console, ConsoleKind::Passthrough("/pl031@9010000".into()));
    assert_eq!(alpha.bad_access, BadAccessPolicy::Abort);
    assert_eq!(config.partitions[1].bad_access, BadAccessPolicy::Stop, "the default");
    // Regions keep config order: the placed one comes first in this source.
    assert_eq!(alpha.memory[0].host, HostPhysAddr::new(0x5800_0000));
    assert!(!alpha.memory[0].is_identity() && alpha.memory[1].is_identity());
    assert_eq!(
        config.channels,
        vec![Channel {
            name: "link".into(),
            node: "/channels/link".into(),
            partitions: vec!["alpha".into(), "beta".into()],
            host: Range::<HostPhysAddr>::new(HostPhysAddr::new(0x5600_0000), 0x1000).unwrap(),
            guest: vec![GuestPhysAddr::new(0x7000_0000), GuestPhysAddr::new(0x7100_0000)],
            doorbell: 40,
        }]
    );
}

#[test]
fn console_none_parses() {
    let source = config(&partitions(&[part("alpha", "0", 0x5000_0000, r#"console = "none";"#)]));
    assert_eq!(parse_src(&source).unwrap().partitions[0].console, ConsoleKind::None);
}

/// The error message for `body` (partitions and channels under the demo root).
fn err(body: &str) -> String {
    parse_src(&config(body)).expect_err("config was accepted")
}

/// The error message for one partition `alpha` with `extra` properties.
fn alpha_err(extra: &str) -> String {
    err(&partitions(&[part("alpha", "0", 0x5000_0000, extra)]))
}

#[test]
fn rejects_missing_required_property() {
    let source = config(&partitions(&[part("alpha", "0", 0x5000_0000, "")]))
        .replace(r#"kernel = "heartbeat";"#, "");
    assert_eq!(
        parse_src(&source).unwrap_err(),
        "/partitions/alpha: kernel: missing required property"
    );
    let source = config("partitions {};").replace("memory = <0x0 0x40000000 0x0 0x04000000>;", "");
    assert_eq!(parse_src(&source).unwrap_err(), "/hypervisor: memory: missing required property");
    let source =
        config(&partitions(&[part("alpha", "0", 0x5000_0000, "")])).replace("cpus = <0>;", "");
    assert_eq!(
        parse_src(&source).unwrap_err(),
        "/partitions/alpha: cpus: missing required property"
    );
}

#[test]
fn rejects_missing_required_node() {
    assert_eq!(err(""), r#"/: missing required node "partitions""#);
    let source = config("partitions {};").replace("hypervisor {", "hypervisor2 {");
    assert_eq!(
        parse_src(&source).unwrap_err(),
        r#"/hypervisor2: unknown node (did you mean "hypervisor"?)"#
    );
}

#[test]
fn rejects_wrong_cell_sizes() {
    let source = config("partitions {};")
        .replace("<0x0 0x40000000 0x0 0x04000000>", "<0x40000000 0x0 0x04000000>");
    assert_eq!(
        parse_src(&source).unwrap_err(),
        "/hypervisor: memory: expected <addr size> (4 cells, 16 bytes), got 12 bytes"
    );
    assert_eq!(
        alpha_err("load-address = <0x50000000>;"),
        "/partitions/alpha: load-address: expected <addr> (2 cells, 8 bytes), got 4 bytes"
    );
    assert_eq!(
        err(&partitions(&[part("alpha", "0", 0x5000_0000, "")])
            .replace("cpus = <0>;", "cpus = [00 01 02];")),
        "/partitions/alpha: cpus: expected a list of cells, got 3 bytes"
    );
    let region =
        "memory@60000000 { reg = <0x0 0x60000000 0x0 0x1000>; host-address = <0x0 0x0 0x0>; };";
    assert_eq!(
        alpha_err(region),
        "/partitions/alpha/memory@60000000: host-address: expected <addr> (2 cells, 8 bytes), got 12 bytes"
    );
    let channel = r#"channels { link { partitions = "alpha", "beta"; reg = <0x0 0x56000000 0x0 0x1000>;
        guest-addresses = <0x0 0x70000000 0x0>; doorbell = <40>; }; };"#;
    assert_eq!(
        err(&(partitions(&[part("alpha", "0", 0x5000_0000, "")]) + channel)),
        "/channels/link: guest-addresses: expected a list of <addr> (2 cells each), got 12 bytes"
    );
    let channel =
        channel.replace("<0x0 0x70000000 0x0>", "<0x0 0x70000000>").replace("<40>", "<0 40>");
    assert_eq!(
        err(&(partitions(&[part("alpha", "0", 0x5000_0000, "")]) + &channel)),
        "/channels/link: doorbell: expected one cell (4 bytes), got 8 bytes"
    );
}

#[test]
fn rejects_values_of_the_wrong_type() {
    assert_eq!(
        alpha_err("bootargs = <1>;"),
        "/partitions/alpha: bootargs: expected a non-empty string"
    );
    assert_eq!(
        alpha_err(r#"initrd = "";"#),
        "/partitions/alpha: initrd: expected a non-empty string"
    );
    assert_eq!(
        alpha_err(r#"dtb = "a", "b";"#),
        "/partitions/alpha: dtb: expected a non-empty string"
    );
    assert_eq!(
        alpha_err(r#"devices = "/pl031@9010000", "";"#),
        "/partitions/alpha: devices: expected a list of non-empty strings"
    );
}

#[test]
fn rejects_unknown_properties_and_nodes() {
    assert_eq!(
        alpha_err(r#"kernal = "x";"#),
        r#"/partitions/alpha: kernal: unknown property (did you mean "kernel"?)"#
    );
    assert_eq!(
        alpha_err("foo { };"),
        "/partitions/alpha/foo: unknown node (expected memory@<address>)"
    );
    assert_eq!(err("partitions {}; extra {};"), "/extra: unknown node");
    assert_eq!(err("partitions { x = <1>; };"), "/partitions: x: unknown property");
    let source =
        config("partitions {};").replace(r#"console = "/pl011@9000000";"#, "consol = <1>;");
    assert_eq!(
        parse_src(&source).unwrap_err(),
        r#"/hypervisor: consol: unknown property (did you mean "console"?)"#
    );
    let region = "memory@60000000 { reg = <0x0 0x60000000 0x0 0x1000>; size = <1>; };";
    assert_eq!(alpha_err(region), "/partitions/alpha/memory@60000000: size: unknown property");
    let channel = r#"channels { link { partitions = "a", "b"; reg = <0 0 0 1>; guest-addresses = <0 0 0 0>;
        doorbell = <1>; ring = <1>; }; };"#;
    assert_eq!(
        err(&format!("partitions {{}}; {channel}")),
        "/channels/link: ring: unknown property"
    );
}

#[test]
fn rejects_bad_enumerations() {
    assert_eq!(
        alpha_err(r#"restart = "reboot";"#),
        r#"/partitions/alpha: restart: expected "halt" or "restart", got "reboot""#
    );
    assert_eq!(
        alpha_err(r#"bad-access = "inject";"#),
        r#"/partitions/alpha: bad-access: expected "stop" or "abort", got "inject""#
    );
    assert_eq!(
        alpha_err(r#"console = "serial";"#),
        r#"/partitions/alpha: console: expected "virtual", "none" or a device path, got "serial""#
    );
}

#[test]
fn rejects_bad_names() {
    let bad = "/partitions/Alpha: bad partition name: use 1 to 15 characters from [a-z0-9_-]";
    assert_eq!(err(&partitions(&[part("Alpha", "0", 0x5000_0000, "")])), bad);
    let long = "abcdefghijklmnop";
    assert_eq!(
        err(&partitions(&[part(long, "0", 0x5000_0000, "")])),
        format!("/partitions/{long}: bad partition name: use 1 to 15 characters from [a-z0-9_-]")
    );
    assert!(parse_src(&config(&partitions(&[part(&long[1..], "0", 0x5000_0000, "")]))).is_ok());
    assert_eq!(
        err(&partitions(&[part("alpha@1", "0", 0x5000_0000, "")])),
        "/partitions/alpha@1: bad partition name: use 1 to 15 characters from [a-z0-9_-]"
    );
    let channel = r#"channels { Link { partitions = "a", "b"; reg = <0 0 0 1>; guest-addresses = <0 0 0 0>;
        doorbell = <1>; }; };"#;
    assert_eq!(
        err(&format!("partitions {{}}; {channel}")),
        "/channels/Link: bad channel name: use 1 to 15 characters from [a-z0-9_-]"
    );
}

#[test]
fn rejects_a_foreign_root() {
    let source = config("partitions {};");
    let other = source.replace("bulkhead,config-v1", "bulkhead,config-v2");
    assert_eq!(
        parse_src(&other).unwrap_err(),
        r#"/: compatible: expected "bulkhead,config-v1", got "bulkhead,config-v2""#
    );
    let cells = source.replace("#address-cells = <2>;", "#address-cells = <1>;");
    assert_eq!(parse_src(&cells).unwrap_err(), "/: #address-cells: must be 2, got 1");
    let missing = source.replace("#size-cells = <2>;", "");
    assert_eq!(parse_src(&missing).unwrap_err(), "/: #size-cells: missing required property");
    let partition_cells =
        part("alpha", "0", 0x5000_0000, "").replace("#size-cells = <2>;", "#size-cells = <1>;");
    assert_eq!(
        err(&partitions(&[partition_cells])),
        "/partitions/alpha: #size-cells: must be 2, got 1"
    );
}

#[test]
fn rejects_bad_regions() {
    let region = "memory@60000000 { reg = <0x0 0x61000000 0x0 0x1000>; };";
    assert_eq!(
        alpha_err(region),
        "/partitions/alpha/memory@60000000: reg: unit address 0x60000000 does not match the base GPA:0x61000000"
    );
    let region = "memory@60000000 { reg = <0x0 0x60000000 0x0 0x0>; };";
    assert_eq!(alpha_err(region), "/partitions/alpha/memory@60000000: reg: size is zero");
    let region = "memory@fffffffffffff000 { reg = <0xffffffff 0xfffff000 0x0 0x2000>; };";
    assert_eq!(
        alpha_err(region),
        "/partitions/alpha/memory@fffffffffffff000: reg: GPA:0xfffffffffffff000 + 0x2000 runs past the end of the address space"
    );
    let region = "memory@60000000 { reg = <0x0 0x60000000 0x0 0x2000>; host-address = <0xffffffff 0xfffff000>; };";
    assert_eq!(
        alpha_err(region),
        "/partitions/alpha/memory@60000000: host-address: HPA:0xfffffffffffff000 + 0x2000 runs past the end of the address space"
    );
    let region = "memory@6000000g { reg = <0x0 0x60000000 0x0 0x1000>; };";
    assert_eq!(
        alpha_err(region),
        "/partitions/alpha/memory@6000000g: unknown node (expected memory@<address>)"
    );
}

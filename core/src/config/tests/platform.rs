//! The platform reader: RAM, CPUs, devices, bus translation and interrupt bindings.

use super::{board, dtc, QEMU_PLATFORM};
use crate::addr::{HostPhysAddr, Range};
use crate::config::{Platform, PlatformCpu, PlatformDevice};

fn hpa(base: u64, size: u64) -> Range<HostPhysAddr> {
    Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size).unwrap()
}

fn read(source: &str) -> Result<Platform, String> {
    Platform::from_dtb(&dtc(source)).map_err(|e| e.to_string())
}

#[test]
fn board_platform_describes_qemu_virt() {
    let board = board();
    assert_eq!(board.memory, vec![hpa(0x4000_0000, 0x4000_0000)]);
    let cpus: Vec<PlatformCpu> =
        (0..4).map(|id| PlatformCpu { id, node: format!("/cpus/cpu@{id}") }).collect();
    assert_eq!(board.cpus, cpus);
    assert_eq!(board.psci_method.as_deref(), Some("smc"));
    // fw-cfg, 32 virtio-mmio, pl031, pl011, the GIC and its ITS; the timer has no reg.
    assert_eq!(board.devices.len(), 37);
    assert_eq!(
        board.device("/pl011@9000000"),
        Some(&PlatformDevice {
            path: "/pl011@9000000".into(),
            compatible: vec!["arm,pl011".into(), "arm,primecell".into()],
            mmio: vec![hpa(0x900_0000, 0x1000)],
            interrupts: vec![33],
            ports: vec![],
            dma: false,
            interrupt_controller: false,
            hypervisor_owned: false,
        })
    );
    let gic = board.device("/intc@8000000").unwrap();
    assert_eq!(gic.mmio, vec![hpa(0x800_0000, 0x1_0000), hpa(0x80a_0000, 0xf6_0000)]);
    assert_eq!(gic.interrupts, vec![25], "maintenance interrupt: PPI 9");
    assert!(gic.interrupt_controller);
    assert!(board.device("/intc@8000000/its@8080000").unwrap().interrupt_controller);
    let last = board.device("/virtio_mmio@a003e00").unwrap();
    assert_eq!((last.interrupts.clone(), last.dma), (vec![79], true));
    assert!(board.device("/fw-cfg@9020000").unwrap().dma, "dma-coherent");
    assert!(board.device("/timer").is_none());
}

/// The hand-written board file must agree with what QEMU generates, node for node.
#[test]
fn board_platform_matches_qemus_own_dtb() {
    let (board, qemu) = (board(), Platform::from_dtb(&dtc(QEMU_PLATFORM)).unwrap());
    assert_eq!(board.memory, qemu.memory);
    assert_eq!(board.cpus, qemu.cpus);
    assert_eq!(board.psci_method, qemu.psci_method);
    for device in &board.devices {
        assert_eq!(Some(device), qemu.device(&device.path), "{}", device.path);
    }
    // What the board file leaves out is only what its header comment says.
    let left_out: Vec<&str> = qemu
        .devices
        .iter()
        .filter(|d| board.device(&d.path).is_none())
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(left_out, ["/pl061@9030000", "/pcie@10000000", "/flash@0"]);
}

const X86: &str = r#"/dts-v1/;
/ {
    #address-cells = <2>; #size-cells = <2>;
    interrupt-parent = <&ioapic>;
    memory@0 { device_type = "memory"; reg = <0 0 0 0x9f000>, <0 0x100000 0 0x3ff00000>; };
    cpus { #address-cells = <1>; #size-cells = <0>; cpu@0 { reg = <0>; }; cpu@2 { reg = <2>; }; };
    ioapic: ioapic@fec00000 { compatible = "intel,ioapic"; reg = <0 0xfec00000 0 0x1000>;
        interrupt-controller; #interrupt-cells = <2>; };
    serial@fed00000 { compatible = "ns16550a"; reg = <0 0xfed00000 0 0x1000>; interrupts = <4 0>; };
};
"#;

#[test]
fn generic_two_cell_binding_keeps_the_first_cell() {
    let x86 = read(X86).unwrap();
    assert_eq!(x86.memory, vec![hpa(0, 0x9_f000), hpa(0x10_0000, 0x3ff0_0000)]);
    assert_eq!(x86.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(x86.device("/serial@fed00000").unwrap().interrupts, [4]);
    assert_eq!(x86.psci_method, None);
}

#[test]
fn ram_coverage_spans_adjacent_nodes_but_not_holes() {
    let x86 = read(X86).unwrap();
    assert!(x86.ram_covers(&hpa(0x10_0000, 0x1000)));
    assert!(!x86.ram_covers(&hpa(0x9_e000, 0x2000)), "the legacy hole is not RAM");
    let two_nodes = X86.replace(
        "reg = <0 0 0 0x9f000>, <0 0x100000 0 0x3ff00000>;",
        "reg = <0 0 0 0x100000>, <0 0x100000 0 0x100000>;",
    );
    assert!(read(&two_nodes).unwrap().ram_covers(&hpa(0xf_f000, 0x2000)));
}

#[test]
fn interrupts_follow_parent_phandles_and_extended_lists() {
    let source = r#"/dts-v1/;
/ {
    #address-cells = <1>; #size-cells = <1>;
    memory@80000000 { device_type = "memory"; reg = <0x80000000 0x1000000>; };
    cpus { #address-cells = <1>; #size-cells = <0>; cpu@0 { reg = <0>; }; };
    gic: interrupt-controller@1000 { compatible = "arm,gic-400"; reg = <0x1000 0x1000>;
        interrupt-controller; #interrupt-cells = <3>; };
    mux: mux@2000 { compatible = "vendor,mux"; reg = <0x2000 0x100>; interrupt-parent = <&gic>;
        interrupts = <0 5 4>; interrupt-controller; #interrupt-cells = <1>; };
    bus { interrupt-parent = <&mux>; #address-cells = <1>; #size-cells = <1>; ranges;
        dev@3000 { reg = <0x3000 0x100>; interrupts = <7>, <8>; };
        both@4000 { reg = <0x4000 0x100>; interrupts-extended = <&gic 1 3 4>, <&mux 9>; };
        espi@5000 { reg = <0x5000 0x100>; interrupt-parent = <&gic>; interrupts = <2 1 4>, <3 0 4>; };
    };
};
"#;
    let platform = read(source).unwrap();
    let ids = |path: &str| platform.device(path).unwrap().interrupts.clone();
    assert_eq!(ids("/mux@2000"), [37]);
    assert_eq!(ids("/bus/dev@3000"), [7, 8]);
    assert_eq!(ids("/bus/both@4000"), [19, 9]);
    assert_eq!(ids("/bus/espi@5000"), [4097, 1056]);
    let bad = source.replace("<2 1 4>, <3 0 4>", "<5 1 4>");
    assert_eq!(read(&bad).unwrap_err(), "/bus/espi@5000: interrupts: unknown GIC interrupt type 5");
    let short = source.replace("<2 1 4>, <3 0 4>", "<0 1>");
    assert_eq!(
        read(&short).unwrap_err(),
        "/bus/espi@5000: interrupts: expected entries of 3 cells, got 8 bytes"
    );
}

#[test]
fn interrupt_parent_must_exist() {
    let source = X86.replace("interrupt-parent = <&ioapic>;", "interrupt-parent = <0x99>;");
    assert_eq!(
        read(&source).unwrap_err(),
        "/serial@fed00000: interrupt-parent: no node has phandle 0x99"
    );
}

#[test]
fn bus_ranges_translate_reg_and_unmapped_buses_hold_no_devices() {
    let source = r#"/dts-v1/;
/ {
    #address-cells = <2>; #size-cells = <2>;
    memory@80000000 { device_type = "memory"; reg = <0 0x80000000 0 0x1000000>; };
    cpus { #address-cells = <1>; #size-cells = <0>; cpu@0 { reg = <0>; }; };
    soc { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>;
        ranges = <0x0 0x0 0x10000000 0x100000>;
        uart@1000 { reg = <0x1000 0x100>; };
        i2c@2000 { reg = <0x2000 0x100>; #address-cells = <1>; #size-cells = <0>;
            sensor@48 { reg = <0x48>; };
        };
    };
    reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
        secure@80800000 { reg = <0 0x80800000 0 0x100000>; no-map; };
    };
};
"#;
    let platform = read(source).unwrap();
    assert_eq!(platform.device("/soc/uart@1000").unwrap().mmio, [hpa(0x1000_1000, 0x100)]);
    assert_eq!(platform.device("/soc/i2c@2000").unwrap().mmio, [hpa(0x1000_2000, 0x100)]);
    assert!(platform.device("/soc/i2c@2000/sensor@48").is_none(), "I2C addresses are not MMIO");
    assert!(platform.device("/reserved-memory/secure@80800000").is_none());
    let outside = source
        .replace("uart@1000 { reg = <0x1000 0x100>; };", "uart@1000 { reg = <0x200000 0x100>; };");
    assert_eq!(
        read(&outside).unwrap_err(),
        "/soc/uart@1000: reg: 0x200000 + 0x100 is outside the parent bus's ranges"
    );
}

#[test]
fn a_platform_needs_ram_and_cpus() {
    let no_ram = X86.replace(r#"device_type = "memory";"#, "");
    assert_eq!(read(&no_ram).unwrap_err(), r#"/: no memory node (device_type = "memory")"#);
    let no_cpus = X86.replace("cpu@0 { reg = <0>; }; cpu@2 { reg = <2>; };", "");
    assert_eq!(read(&no_cpus).unwrap_err(), "/cpus: no cpu@ node");
    let bad_reg = X86.replace("cpu@2 { reg = <2>; }", "cpu@2 { reg = [02]; }");
    assert_eq!(
        read(&bad_reg).unwrap_err(),
        "/cpus/cpu@2: reg: expected entries of 1 cell, got 1 byte"
    );
}

/// What the boot path reads: the named devices, those of the named compatibles and the
/// interrupt controllers, each exactly as a full read has it.
#[test]
fn a_filtered_read_keeps_named_devices_and_interrupt_controllers() {
    let dtb = dtc(QEMU_PLATFORM);
    let tree = crate::dt::Tree::parse(&dtb).unwrap();
    let full = Platform::from_tree(&tree, None).unwrap();
    assert_eq!(full, Platform::from_dtb(&dtb).unwrap());
    let paths = ["/virtio_mmio@a000200", "/pl011", "/nowhere"];
    let filter = crate::config::DeviceFilter { paths: &paths, compatible: &["arm,pl031"] };
    let some = Platform::from_tree(&tree, Some(&filter)).unwrap();
    let kept: Vec<&str> = some.devices.iter().map(|d| d.path.as_str()).collect();
    let mut want: Vec<&str> = full
        .devices
        .iter()
        .filter(|d| d.interrupt_controller || d.compatible.iter().any(|c| c == "arm,pl031"))
        .map(|d| d.path.as_str())
        .chain(["/virtio_mmio@a000200"])
        .collect();
    want.sort_unstable();
    let mut sorted = kept.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, want, "a path names a node exactly: /pl011 is no device");
    for device in &some.devices {
        assert_eq!(Some(device), full.device(&device.path));
    }
    assert_eq!(
        (&some.memory, &some.cpus, &some.psci_method),
        (&full.memory, &full.cpus, &full.psci_method)
    );
}

//! Copying devices from a platform DTB compiled at test time.

use super::{bootargs, dtc, node, prop, spec, stdout, strs, u32s, u64s};
use crate::dt::Tree;
use crate::fdtgen::*;

/// A QEMU-virt-like platform plus nodes that exercise the corner cases: a translating
/// bus, non-fixed and fixed clock providers, pin control, resets, a GPIO interrupt
/// parent and a bus without `ranges`.
pub(super) const PLATFORM_DTS: &str = r#"
/dts-v1/;
/ {
	compatible = "linux,dummy-virt";
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		cpu@0 { device_type = "cpu"; compatible = "arm,cortex-a72"; reg = <0>; };
		cpu@1 { device_type = "cpu"; compatible = "arm,cortex-a72"; reg = <1>; };
	};
	gic: intc@8000000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		interrupt-controller;
		reg = <0x0 0x8000000 0x0 0x10000>, <0x0 0x80a0000 0x0 0xf60000>;
		/* the maintenance interrupt QEMU lists with virtualization=on */
		interrupts = <1 9 4>;
		phandle = <0x8002>;
	};
	apb_pclk: apb-pclk {
		compatible = "fixed-clock";
		#clock-cells = <0>;
		clock-frequency = <24000000>;
		clock-output-names = "clk24mhz";
		phandle = <0x8000>;
	};
	osc: osc48 { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <48000000>; };
	fw_clk: firmware-clocks { compatible = "raspberrypi,firmware-clocks"; #clock-cells = <1>; };
	rst: reset-controller { compatible = "vendor,reset"; #reset-cells = <1>; };
	gpio: gpio@9030000 {
		compatible = "arm,pl061", "arm,primecell";
		reg = <0x0 0x9030000 0x0 0x1000>;
		gpio-controller;
		#gpio-cells = <2>;
		interrupt-controller;
		#interrupt-cells = <2>;
		interrupts = <0 7 4>;
		clocks = <&apb_pclk>;
		clock-names = "apb_pclk";
	};
	pl011@9000000 {
		compatible = "arm,pl011", "arm,primecell";
		reg = <0x0 0x9000000 0x0 0x1000>;
		interrupts = <0 1 4>;
		clocks = <&apb_pclk>, <&apb_pclk>;
		clock-names = "uartclk", "apb_pclk";
	};
	virtio_mmio@a003e00 {
		compatible = "virtio,mmio";
		reg = <0x0 0xa003e00 0x0 0x200>;
		interrupt-parent = <&gic>;
		interrupts = <0 0x2f 1>;
		dma-coherent;
	};
	spi@9060000 {
		compatible = "vendor,spi";
		reg = <0x0 0x9060000 0x0 0x1000>;
		interrupts = <0 9 4>;
		clocks = <&osc>;
		#address-cells = <1>;
		#size-cells = <0>;
		flash@0 { compatible = "jedec,spi-nor"; reg = <0>; spi-max-frequency = <1000000>; };
	};
	button@9070000 {
		compatible = "vendor,button";
		reg = <0x0 0x9070000 0x0 0x100>;
		interrupt-parent = <&gpio>;
		interrupts = <3 2>;
	};
	soc {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x7e000000 0x0 0xfe000000 0x1800000>;
		serial@7e201000 {
			compatible = "arm,pl011", "arm,primecell";
			reg = <0x7e201000 0x200>;
			interrupts = <0 121 4>;
			clocks = <&fw_clk 19>, <&fw_clk 20>;
			clock-names = "uartclk", "apb_pclk";
			pinctrl-names = "default";
			pinctrl-0 = <&gpio>;
		};
		mmc@7e300000 {
			compatible = "vendor,mmc";
			reg = <0x7e300000 0x100>;
			interrupts = <0 126 4>;
			resets = <&rst 1>;
		};
	};
	hole {
		#address-cells = <1>;
		#size-cells = <1>;
		dev@100 { compatible = "vendor,dev"; reg = <0x100 0x10>; };
	};
};
"#;

/// The test platform as a DTB.
pub(super) fn platform_dtb() -> Vec<u8> {
    let (ok, blob, stderr) = dtc(PLATFORM_DTS.as_bytes(), "dts", "dtb");
    assert!(ok, "dtc failed on the test platform: {stderr}");
    blob
}

/// Generates a guest with `devices` from the test platform.
pub(super) fn with_devices(platform: &[u8], devices: &[&str]) -> Result<Vec<u8>, FdtGenError> {
    let mut s = spec();
    s.platform = Some(platform);
    s.devices = devices.iter().map(|d| d.to_string()).collect();
    s.console = GuestConsole::None;
    generate(&s)
}

#[test]
fn copies_qemu_uart_and_virtio() {
    let platform = platform_dtb();
    let mut s = spec();
    s.platform = Some(&platform);
    s.devices = vec!["/pl011@9000000".to_string(), "/virtio_mmio@a003e00".to_string()];
    s.console = GuestConsole::Passthrough("/pl011@9000000".to_string());
    let blob = generate(&s).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let gic = u32s(prop(&tree, "/intc@8000000", "phandle"))[0];
    assert_ne!(gic, 0x8002, "the platform GIC phandle must not leak");

    let uart = "/pl011@9000000";
    assert_eq!(strs(prop(&tree, uart, "compatible")), ["arm,pl011", "arm,primecell"]);
    assert_eq!(u64s(prop(&tree, uart, "reg")), [0x900_0000, 0x1000]);
    assert_eq!(u32s(prop(&tree, uart, "interrupts")), [0, 1, 4]);
    let clk = u32s(prop(&tree, "/apb-pclk", "phandle"))[0];
    assert_eq!(u32s(prop(&tree, uart, "clocks")), [clk, clk]);
    assert_eq!(u32s(prop(&tree, "/apb-pclk", "clock-frequency")), [24_000_000]);
    assert_eq!(strs(prop(&tree, uart, "clock-names")), ["uartclk", "apb_pclk"]);
    assert_eq!(stdout(&tree), Some("pl011@9000000"));

    let virtio = "/virtio_mmio@a003e00";
    assert_eq!(strs(prop(&tree, virtio, "compatible")), ["virtio,mmio"]);
    assert_eq!(u64s(prop(&tree, virtio, "reg")), [0xa00_3e00, 0x200]);
    assert_eq!(u32s(prop(&tree, virtio, "interrupts")), [0, 0x2f, 1]);
    assert_eq!(u32s(prop(&tree, virtio, "interrupt-parent")), [gic]);
    assert!(node(&tree, virtio).prop("dma-coherent").is_some());

    let cpu = node(&tree, "/cpus/cpu@0");
    assert_eq!(strs(cpu.prop("compatible").unwrap()), ["arm,cortex-a72"]);
    assert_eq!(node(&tree, "/cpus").children().len(), 2);
    assert_eq!(tree.nodes().filter(|n| n.name() == "apb-pclk").count(), 1);
}

#[test]
fn copied_tree_passes_dtc() {
    let platform = platform_dtb();
    let devices =
        ["/pl011@9000000", "/virtio_mmio@a003e00", "/spi@9060000", "/soc/serial@7e201000"];
    let blob = with_devices(&platform, &devices).unwrap();
    let (ok, dts, stderr) = dtc(&blob, "dtb", "dts");
    assert!(ok && stderr.is_empty(), "dtc failed or warned: {stderr}");
    let dts = String::from_utf8(dts).unwrap();
    assert!(dts.contains("virtio_mmio@a003e00 {"), "{dts}");
    assert!(dts.contains("compatible = \"jedec,spi-nor\";"), "{dts}");
    assert!(!dts.contains("pinctrl"), "{dts}");
}

#[test]
fn bus_device_is_translated_and_clocked() {
    let platform = platform_dtb();
    let blob = with_devices(&platform, &["/soc/serial@7e201000"]).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let uart = "/serial@fe201000";
    assert!(tree.find("/serial@7e201000").is_none(), "the unit address follows reg");
    assert_eq!(u64s(prop(&tree, uart, "reg")), [0xfe20_1000, 0x200]);
    assert_eq!(u32s(prop(&tree, uart, "interrupts")), [0, 121, 4]);
    // Firmware clocks are not in the guest; a PrimeCell gets the 24 MHz apb-pclk.
    let clk = u32s(prop(&tree, "/apb-pclk", "phandle"))[0];
    assert_eq!(u32s(prop(&tree, uart, "clocks")), [clk, clk]);
    assert!(node(&tree, uart).prop("pinctrl-0").is_none());
    assert!(node(&tree, uart).prop("pinctrl-names").is_none());
    let mut s = spec();
    s.platform = Some(&platform);
    s.devices = vec!["/soc/serial@7e201000".to_string()];
    s.console = GuestConsole::Passthrough("/soc/serial@7e201000".to_string());
    let blob = generate(&s).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(stdout(&tree), Some("serial@fe201000"));
    // A path component without unit address finds the node too.
    assert!(with_devices(&platform, &["/soc/serial"]).is_ok());
}

#[test]
fn fixed_clock_and_children_are_copied() {
    let platform = platform_dtb();
    let blob = with_devices(&platform, &["/spi@9060000"]).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let osc = u32s(prop(&tree, "/osc48", "phandle"))[0];
    assert_eq!(u32s(prop(&tree, "/osc48", "clock-frequency")), [48_000_000]);
    assert_eq!(strs(prop(&tree, "/osc48", "compatible")), ["fixed-clock"]);
    assert_eq!(u32s(prop(&tree, "/spi@9060000", "clocks")), [osc]);
    assert_eq!(u32s(prop(&tree, "/spi@9060000/flash@0", "reg")), [0]);
    assert_eq!(u32s(prop(&tree, "/spi@9060000", "#address-cells")), [1]);
}

#[test]
fn partition_config_becomes_spec() {
    use crate::addr::HostPhysAddr;
    use crate::config::{Boot, ConsoleKind, Device, MemoryRegion, Partition, RestartPolicy};
    let platform = platform_dtb();
    let region = super::range(0x4000_0000, 0x800_0000);
    let partition = Partition {
        name: "rtos".to_string(),
        node: "/partitions/rtos".to_string(),
        cpus: vec![2, 3],
        memory: vec![MemoryRegion {
            node: "/partitions/rtos/memory@40000000".to_string(),
            guest: region,
            host: HostPhysAddr::new(0x4000_0000),
        }],
        devices: vec![Device {
            path: "/virtio_mmio@a003e00".to_string(),
            mmio: vec![],
            interrupts: vec![79],
            ports: vec![],
            dma: true,
        }],
        boot: Boot {
            kernel: "Image".to_string(),
            initrd: None,
            dtb: None,
            bootargs: Some("quiet".to_string()),
            load: None,
        },
        console: ConsoleKind::Virtual,
        console_given: false,
        restart: RestartPolicy::Halt,
        bad_access: Default::default(),
    };
    let board = GuestBoard { gic: spec().gic, psci: PsciConduit::Smc, console: super::CONSOLE };
    let s = GuestDtSpec::from_partition(&partition, 1, &platform, &board);
    assert_eq!((s.name.as_str(), s.id, s.vcpus), ("rtos", 1, 2));
    assert_eq!(s.memory, [region]);
    assert_eq!(s.devices, ["/virtio_mmio@a003e00"]);
    assert_eq!(s.console, GuestConsole::Virtual(super::CONSOLE));
    let blob = generate(&s).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(strs(prop(&tree, "/", "model")), ["bulkhead,rtos"]);
    assert_eq!(u32s(prop(&tree, "/chosen", "bulkhead,partition-id")), [1]);
    assert_eq!(bootargs(&tree), Some("quiet"));
    assert_eq!(u64s(prop(&tree, "/intc@8000000", "reg"))[3], 0x4_0000);
    assert!(tree.find("/virtio_mmio@a003e00").is_some());
    assert!(tree.find("/pl011@9000000").is_some());
}

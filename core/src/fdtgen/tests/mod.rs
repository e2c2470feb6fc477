//! Host tests of guest DT generation: the blob is read back with [`crate::dt`] and
//! round-tripped through `dtc`.

mod copy;
mod robust;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::addr::{GuestPhysAddr, Range};
use crate::dt::{Node, Tree};

pub(super) fn range(start: u64, size: u64) -> Range<GuestPhysAddr> {
    Range::<GuestPhysAddr>::new(GuestPhysAddr::new(start), size).unwrap()
}

pub(super) const CONSOLE: VirtualConsole =
    VirtualConsole { base: GuestPhysAddr::new(0x900_0000), intid: 33 };

/// A two-vCPU guest with two RAM regions, the virtual console and an initrd.
pub(super) fn spec() -> GuestDtSpec<'static> {
    GuestDtSpec {
        name: "linux0".to_string(),
        id: 3,
        memory: vec![range(0x5000_0000, 0x1000_0000), range(0x7000_0000, 0x100_0000)],
        vcpus: 2,
        psci: PsciConduit::Hvc,
        gic: GicV3Layout {
            gicd: range(0x800_0000, 0x1_0000),
            gicr_base: GuestPhysAddr::new(0x80a_0000),
        },
        devices: vec![],
        console: GuestConsole::Virtual(CONSOLE),
        bootargs: Some("console=ttyAMA0 earlycon".to_string()),
        initrd: Some(range(0x5800_0000, 0xf_1015)),
        platform: None,
    }
}

/// The node at `path`; the test fails if there is none.
pub(super) fn node<'t>(tree: &'t Tree<'_>, path: &str) -> Node<'t> {
    tree.find(path).unwrap_or_else(|| panic!("no node {path}"))
}

/// Property `name` of the node at `path`.
pub(super) fn prop<'t>(tree: &'t Tree<'_>, path: &str, name: &str) -> &'t [u8] {
    node(tree, path).prop(name).unwrap_or_else(|| panic!("{path}: no {name}"))
}

/// `/chosen/bootargs`.
pub(super) fn bootargs<'t>(tree: &'t Tree<'_>) -> Option<&'t str> {
    node(tree, "/chosen").string("bootargs").unwrap()
}

/// The name of the node `/chosen/stdout-path` names, as the guest kernel resolves it.
pub(super) fn stdout<'t>(tree: &'t Tree<'_>) -> Option<&'t str> {
    let path = node(tree, "/chosen").string("stdout-path").unwrap()?;
    tree.find(path.split(':').next()?).map(Node::name)
}

pub(super) fn u32s(v: &[u8]) -> Vec<u32> {
    v.chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect()
}

pub(super) fn u64s(v: &[u8]) -> Vec<u64> {
    v.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap())).collect()
}

pub(super) fn strs(v: &[u8]) -> Vec<&str> {
    v.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| std::str::from_utf8(s).unwrap())
        .collect()
}

fn temp_path(ext: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("bulkhead-fdtgen-{}-{n}.{ext}", std::process::id()))
}

/// Runs `dtc -I <from> -O <to>` on `input`: (success, output, stderr).
pub(super) fn dtc(input: &[u8], from: &str, to: &str) -> (bool, Vec<u8>, String) {
    let (src, dst) = (temp_path(from), temp_path(to));
    std::fs::write(&src, input).unwrap();
    let out = Command::new("dtc")
        .args(["-I", from, "-O", to, "-o"])
        .arg(&dst)
        .arg(&src)
        .output()
        .expect("dtc (device-tree-compiler) must be installed for these tests");
    let result = std::fs::read(&dst).unwrap_or_default();
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);
    (out.status.success(), result, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn root_and_chosen() {
    let blob = generate(&spec()).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(strs(prop(&tree, "/", "compatible")), ["linux,dummy-virt"]);
    assert_eq!(strs(prop(&tree, "/", "model")), ["bulkhead,linux0"]);
    assert_eq!(u32s(prop(&tree, "/", "#address-cells")), [2]);
    assert_eq!(u32s(prop(&tree, "/", "#size-cells")), [2]);
    assert_eq!(
        u32s(prop(&tree, "/", "interrupt-parent")),
        u32s(prop(&tree, "/intc@8000000", "phandle"))
    );
    assert_eq!(bootargs(&tree), Some("console=ttyAMA0 earlycon"));
    assert_eq!(stdout(&tree), Some("pl011@9000000"));
    assert_eq!(u64s(prop(&tree, "/chosen", "linux,initrd-start")), [0x5800_0000]);
    assert_eq!(u64s(prop(&tree, "/chosen", "linux,initrd-end")), [0x580f_1015]);
    assert_eq!(strs(prop(&tree, "/chosen", "bulkhead,partition")), ["linux0"]);
    assert_eq!(u32s(prop(&tree, "/chosen", "bulkhead,partition-id")), [3]);
}

#[test]
fn memory_regions() {
    let blob = generate(&spec()).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let mems: Vec<_> = tree.root().children().filter(|n| n.base_name() == "memory").collect();
    assert_eq!(mems.len(), 2);
    assert_eq!(mems[0].name(), "memory@50000000");
    assert_eq!(u64s(mems[0].prop("reg").unwrap()), [0x5000_0000, 0x1000_0000]);
    assert_eq!(strs(mems[0].prop("device_type").unwrap()), ["memory"]);
    assert_eq!(u64s(mems[1].prop("reg").unwrap()), [0x7000_0000, 0x100_0000]);
    let regions = mems[0].reg(tree.root().cell_sizes().unwrap()).unwrap();
    assert_eq!(regions, [(0x5000_0000, 0x1000_0000)]);
}

#[test]
fn cpus_and_psci() {
    let mut s = spec();
    s.vcpus = 4;
    s.psci = PsciConduit::Smc;
    let blob = generate(&s).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let cpus = node(&tree, "/cpus").children();
    assert_eq!(cpus.len(), 4);
    for (i, cpu) in (0..).zip(cpus) {
        assert_eq!(cpu.u32("reg"), Ok(Some(i)));
        assert_eq!(strs(cpu.prop("enable-method").unwrap()), ["psci"]);
        assert_eq!(strs(cpu.prop("compatible").unwrap()), ["arm,armv8"]);
        assert_eq!(strs(cpu.prop("device_type").unwrap()), ["cpu"]);
    }
    assert_eq!(node(&tree, "/cpus/cpu@3").name(), "cpu@3");
    assert_eq!(strs(prop(&tree, "/psci", "method")), ["smc"]);
    assert_eq!(strs(prop(&tree, "/psci", "compatible")), ["arm,psci-1.0", "arm,psci-0.2"]);
}

#[test]
fn gic_one_redistributor_frame_per_vcpu() {
    for vcpus in [1, 2, 3, 8] {
        let mut s = spec();
        s.vcpus = vcpus;
        let blob = generate(&s).unwrap();
        let tree = Tree::parse(&blob).unwrap();
        let gic = "/intc@8000000";
        let gicr = u64::from(vcpus) * 0x2_0000;
        assert_eq!(u64s(prop(&tree, gic, "reg")), [0x800_0000, 0x1_0000, 0x80a_0000, gicr]);
        assert_eq!(strs(prop(&tree, gic, "compatible")), ["arm,gic-v3"]);
        assert_eq!(u32s(prop(&tree, gic, "#interrupt-cells")), [3]);
        assert_eq!(u32s(prop(&tree, gic, "#redistributor-regions")), [1]);
        assert!(node(&tree, gic).prop("interrupt-controller").is_some());
    }
}

#[test]
fn timer_and_virtual_console() {
    let blob = generate(&spec()).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(strs(prop(&tree, "/timer", "compatible")), ["arm,armv8-timer"]);
    assert_eq!(u32s(prop(&tree, "/timer", "interrupts")), [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
    assert!(node(&tree, "/timer").prop("always-on").is_some());
    let uart = "/pl011@9000000";
    assert_eq!(strs(prop(&tree, uart, "compatible")), ["arm,pl011", "arm,primecell"]);
    assert_eq!(u64s(prop(&tree, uart, "reg")), [0x900_0000, 0x1000]);
    assert_eq!(u32s(prop(&tree, uart, "interrupts")), [0, 1, 4]);
    assert_eq!(strs(prop(&tree, uart, "clock-names")), ["uartclk", "apb_pclk"]);
    let clk = u32s(prop(&tree, "/apb-pclk", "phandle"))[0];
    assert_eq!(u32s(prop(&tree, uart, "clocks")), [clk, clk]);
    assert_eq!(strs(prop(&tree, "/apb-pclk", "compatible")), ["fixed-clock"]);
    assert_eq!(u32s(prop(&tree, "/apb-pclk", "clock-frequency")), [24_000_000]);
    assert_eq!(strs(prop(&tree, "/apb-pclk", "clock-output-names")), ["clk24mhz"]);
    assert_eq!(u32s(prop(&tree, "/apb-pclk", "#clock-cells")), [0]);
}

#[test]
fn optional_parts_left_out() {
    let mut s = spec();
    s.console = GuestConsole::None;
    s.bootargs = None;
    s.initrd = None;
    let blob = generate(&s).unwrap();
    let tree = Tree::parse(&blob).unwrap();
    let chosen = node(&tree, "/chosen");
    for absent in ["bootargs", "stdout-path", "linux,initrd-start", "linux,initrd-end"] {
        assert!(chosen.prop(absent).is_none(), "{absent}");
    }
    assert!(tree.find("/pl011@9000000").is_none());
    assert!(tree.find("/apb-pclk").is_none());
}

#[test]
fn dtc_round_trip() {
    let blob = generate(&spec()).unwrap();
    let (ok, dts, stderr) = dtc(&blob, "dtb", "dts");
    assert!(ok && stderr.is_empty(), "dtc failed or warned: {stderr}");
    let dts = String::from_utf8(dts).unwrap();
    for want in [
        "enable-method = \"psci\";",
        "method = \"hvc\";",
        "compatible = \"arm,gic-v3\";",
        "model = \"bulkhead,linux0\";",
        "stdout-path = \"/pl011@9000000\";",
        "bootargs = \"console=ttyAMA0 earlycon\";",
        "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;",
        "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;",
        "bulkhead,partition-id = <0x03>;",
        "memory@70000000 {",
    ] {
        assert!(dts.contains(want), "missing `{want}` in\n{dts}");
    }
    // And back: dtc accepts its own rendering of the tree (it warns that the clock
    // phandles it sees are plain numbers, which is what decompiling does).
    let (ok, _, stderr) = dtc(dts.as_bytes(), "dts", "dtb");
    assert!(ok, "dtc could not recompile: {stderr}");
}

/// The partition DTS recorded in the Linux-guest notes, which boots Debian's arm64
/// kernel under QEMU.
const KNOWN_GOOD_DTS: &str = r#"
/dts-v1/;
/ {
	compatible = "linux,dummy-virt"; model = "partition-view"; #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;
	chosen { bootargs = "console=ttyAMA0 earlycon"; stdout-path = "/pl011@9000000";
		linux,initrd-start = <0x0 0x58000000>; linux,initrd-end = <0x0 0x580f1015>; };
	memory@50000000 { device_type = "memory"; reg = <0x0 0x50000000 0x0 0x10000000>; };
	cpus { #address-cells = <1>; #size-cells = <0>;
		cpu@0 { device_type = "cpu"; compatible = "arm,cortex-a72"; reg = <0x0>; enable-method = "psci"; }; };
	psci { compatible = "arm,psci-1.0", "arm,psci-0.2"; method = "hvc"; };
	gic: intc@8000000 { compatible = "arm,gic-v3"; #interrupt-cells = <3>; interrupt-controller;
		#address-cells = <2>; #size-cells = <2>; #redistributor-regions = <1>;
		reg = <0x0 0x08000000 0x0 0x10000>, <0x0 0x080a0000 0x0 0x20000>; };
	timer { compatible = "arm,armv8-timer"; interrupts = <1 13 4>, <1 14 4>, <1 11 4>, <1 10 4>; always-on; };
	apb_pclk: apb-pclk { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; clock-output-names = "clk24mhz"; };
	pl011@9000000 { compatible = "arm,pl011", "arm,primecell"; reg = <0x0 0x09000000 0x0 0x1000>; interrupts = <0 1 4>;
		clocks = <&apb_pclk>, <&apb_pclk>; clock-names = "uartclk", "apb_pclk"; };
};
"#;

/// Every property of every node under `node`, keyed by path.
fn flatten(node: Node<'_>, path: &str, out: &mut Vec<(String, String, Vec<u8>)>) {
    for p in node.props() {
        out.push((path.to_string(), p.name.to_string(), p.value.to_vec()));
    }
    for child in node.children() {
        flatten(child, &format!("{}/{}", path.trim_end_matches('/'), child.name()), out);
    }
}

#[test]
fn matches_known_good_partition_tree() {
    let (ok, reference, stderr) = dtc(KNOWN_GOOD_DTS.as_bytes(), "dts", "dtb");
    assert!(ok, "{stderr}");
    // The platform only lends the CPU compatible here.
    let mut s = spec();
    s.memory = vec![range(0x5000_0000, 0x1000_0000)];
    s.vcpus = 1;
    s.platform = Some(&reference);
    let blob = generate(&s).unwrap();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    flatten(Tree::parse(&reference).unwrap().root(), "/", &mut want);
    flatten(Tree::parse(&blob).unwrap().root(), "/", &mut got);
    for entry in &want {
        if entry.1 != "model" {
            assert!(got.contains(entry), "missing or different: {entry:?}");
        }
    }
    let extra: Vec<_> =
        got.iter().filter(|e| !want.iter().any(|w| w.0 == e.0 && w.1 == e.1)).collect();
    let extra: Vec<_> = extra.iter().map(|e| format!("{}:{}", e.0, e.1)).collect();
    assert_eq!(extra, ["/chosen:bulkhead,partition", "/chosen:bulkhead,partition-id"]);
}

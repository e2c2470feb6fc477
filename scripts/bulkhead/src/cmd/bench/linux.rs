//! The Linux row: Debian's kernel from reset to its first user-space instruction, on
//! bare QEMU and in a Bulkhead partition, booted the same way both times.
//!
//! Both runs boot the cached kernel (`scripts/setup`) with the same initramfs (only
//! `/init` = `bench-linux-init` and `/dev/console`), the same command line and the same
//! device tree: the one Bulkhead generates for the partition, made here on the host by
//! the same core code (`bulkhead_core::fdtgen`). The guest sees one CPU at EL1, 256 MiB
//! at 0x50000000, the PL011 and the GICv3, PSCI over HVC. On bare QEMU that means
//! `virtualization=off` (QEMU then answers PSCI on HVC and starts the CPU at EL1) and a
//! six-instruction loader stub that sets x0 to the DTB, as QEMU's own `-kernel` does.
//! `/init` prints `BENCH-LINUX cntvct=<n>`: the virtual time of user space's first
//! instruction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulkhead_core::addr::{GuestPhysAddr, Range};
use bulkhead_core::fdtgen::{self, GicV3Layout, GuestBoard, GuestDtSpec, PsciConduit, VirtualConsole};

use super::qemu;
use crate::board::Board;
use crate::cmd::{check, image};
use crate::error::{self, Context, Error, Result};
use crate::{process, repo};

/// Guest RAM: 256 MiB at 0x50000000, as in the partition.
const RAM: (u64, u64) = (0x5000_0000, 0x1000_0000);
/// The kernel's place: a raw arm64 `Image` with `text_offset` 0 goes at the first
/// 2 MiB boundary of RAM (arch/aarch64/src/image.rs).
const KERNEL_AT: u64 = RAM.0;
/// The DTB's place: the top 2 MiB of RAM; the initrd goes right below it.
const DTB_AT: u64 = RAM.0 + RAM.1 - (2 << 20);
/// Where the bare-metal loader stub sits: outside the guest's RAM and clear of the
/// 1 MiB QEMU puts its own DTB in at 0x40000000.
const STUB_AT: u64 = 0x4800_0000;
/// Kernel command line, both runs.
const BOOTARGS: &str = "console=ttyAMA0";
/// The line `/init` prints.
pub const MARKER: &str = "BENCH-LINUX cntvct=";
/// Longest a Linux boot may take (wall clock).
const TIMEOUT: Duration = Duration::from_secs(600);

/// The cached kernel, if `scripts/setup` has fetched it.
pub fn cached_kernel() -> Option<PathBuf> {
    let set = |v: &str| std::env::var_os(v).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = set("XDG_CACHE_HOME").or_else(|| set("HOME").map(|h| h.join(".cache")))?;
    let kernel = cache.join("bulkhead/debian-arm64/vmlinuz");
    kernel.is_file().then_some(kernel)
}

/// Counter values at the marker: bare metal and in a partition.
pub struct Boots {
    /// Bare QEMU, `virtualization=off`.
    pub native: u64,
    /// In the `linux` partition.
    pub partition: u64,
}

/// Boots `kernel` both ways and returns the marker values.
pub fn measure(board: &Board, kernel: &Path, init_elf: &Path, out: &Path) -> Result<Boots> {
    std::fs::create_dir_all(out).context(|| format!("cannot create {}", repo::show(out)))?;
    let cpio = out.join("init.cpio");
    error::write(&cpio, &initramfs(&error::read(init_elf)?))?;
    let kernel_link = out.join("vmlinuz.img");
    let _ = std::fs::remove_file(&kernel_link);
    std::os::unix::fs::symlink(kernel, &kernel_link)
        .context(|| format!("cannot link {}", repo::show(&kernel_link)))?;
    let config = out.join("linux-bench.dts");
    error::write(&config, config_source().as_bytes())?;

    super::super::progress("bench", "Linux in a partition");
    let made = image::image(board, Some(&config), Some(out.join("bulkhead-linux.img")))?;
    let image = made.image.to_string_lossy().into_owned();
    let run = qemu::run(&qemu::machine(&["-kernel", &image]), None, MARKER, TIMEOUT)?;
    let partition = marker(&run)?;
    super::super::progress("bench", format!("  {:.1} s wall clock", run.seconds));

    super::super::progress("bench", "Linux on bare QEMU");
    let cpio_len = std::fs::metadata(&cpio).map(|m| m.len()).unwrap_or(0);
    let initrd_at = (DTB_AT - cpio_len) & !0xfff;
    let dtb = out.join("guest.dtb");
    error::write(&dtb, &guest_dtb(board, &config, out, initrd_at, cpio_len)?)?;
    let stub = out.join("stub.bin");
    error::write(&stub, &loader_stub(DTB_AT, KERNEL_AT))?;
    let load = |file: &Path, at: u64| format!("loader,file={},addr={at:#x},force-raw=on", file.display());
    let mut argv = qemu::machine(&[]);
    let m = argv.iter().position(|a| a == "-M").map(|i| i + 1).unwrap_or(0);
    argv[m] = argv[m].replace("virtualization=on", "virtualization=off");
    for dev in [
        load(kernel, KERNEL_AT),
        load(&cpio, initrd_at),
        load(&dtb, DTB_AT),
        load(&stub, STUB_AT),
        format!("loader,addr={STUB_AT:#x},cpu-num=0"),
    ] {
        argv.extend(["-device".to_string(), dev]);
    }
    let run = qemu::run(&argv, None, MARKER, TIMEOUT)?;
    super::super::progress("bench", format!("  {:.1} s wall clock", run.seconds));
    Ok(Boots {
        native: marker(&run)?,
        partition,
    })
}

/// The partition: CPU 0, 256 MiB at 0x50000000, the PL011 passed through as its console
/// (the hypervisor stays silent), files beside this config.
fn config_source() -> String {
    CONFIG.replace("@BOOTARGS@", BOOTARGS)
}

const CONFIG: &str = r#"// Generated by `cargo bh bench` (scripts/bulkhead/src/cmd/bench/linux.rs).
/dts-v1/;
/ {
	compatible = "bulkhead,config-v1";
	#address-cells = <2>;
	#size-cells = <2>;
	hypervisor {
		memory = <0x0 0x40000000 0x0 0x04000000>;
	};
	partitions {
		linux {
			#address-cells = <2>;
			#size-cells = <2>;
			cpus = <0>;
			kernel = "vmlinuz.img";
			initrd = "init.cpio";
			bootargs = "@BOOTARGS@";
			devices = "/pl011@9000000";
			console = "/pl011@9000000";
			memory@50000000 {
				reg = <0x0 0x50000000 0x0 0x10000000>;
			};
		};
	};
};
"#;

/// The value on the marker line.
fn marker(run: &qemu::Output) -> Result<u64> {
    run.value(MARKER)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::new(format!("no `{MARKER}<n>` line; last output:\n{}", run.tail(20))))
}

/// The device tree Bulkhead gives the partition, generated on the host: the config
/// validated as `cargo bh check` does, QEMU's own DTB for this machine as the platform
/// (as the hypervisor gets it at boot), the board's GIC, PSCI and console layout as
/// arch/aarch64/src/rt/boot.rs sets it.
fn guest_dtb(board: &Board, config: &Path, out: &Path, initrd_at: u64, initrd_len: u64) -> Result<Vec<u8>> {
    let checked = check::check(board, Some(config))?;
    let platform = platform_dtb(out)?;
    let gic = GicV3Layout {
        gicd: Range::new(GuestPhysAddr::new(0x0800_0000), 0x1_0000).ok_or_else(|| Error::new("GICD"))?,
        gicr_base: GuestPhysAddr::new(0x080A_0000),
    };
    let console = VirtualConsole {
        base: GuestPhysAddr::new(0x0900_0000),
        intid: 33,
    };
    let board = GuestBoard {
        gic,
        psci: PsciConduit::Hvc,
        console,
    };
    let part = checked.config.partitions.first().ok_or_else(|| Error::new("no partition"))?;
    let mut spec = GuestDtSpec::from_partition(part, 0, &platform, &board);
    spec.initrd = Range::new(GuestPhysAddr::new(initrd_at), initrd_len);
    fdtgen::generate(&spec).map_err(|e| Error::new(format!("guest device tree: {e}")))
}

/// QEMU's DTB for the benchmark machine (`dumpdtb`), as the hypervisor receives it.
fn platform_dtb(out: &Path) -> Result<Vec<u8>> {
    let file = out.join("platform.dtb");
    let mut argv = qemu::machine(&[]);
    let m = argv.iter().position(|a| a == "-M").map(|i| i + 1).unwrap_or(0);
    argv[m] = format!("{},dumpdtb={}", argv[m], file.display());
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    process::capture(&mut cmd)?;
    error::read(&file)
}

/// QEMU's AArch64 boot stub (hw/arm/boot.c, `bootloader_aarch64`): x0 = DTB, x1–x3 = 0,
/// branch to the kernel.
fn loader_stub(dtb: u64, entry: u64) -> Vec<u8> {
    let words: [u32; 6] = [
        0x5800_00c0, // ldr x0, dtb (pc + 24)
        0xaa1f_03e1, // mov x1, xzr
        0xaa1f_03e2, // mov x2, xzr
        0xaa1f_03e3, // mov x3, xzr
        0x5800_0084, // ldr x4, entry (pc + 16)
        0xd61f_0080, // br  x4
    ];
    let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    out.extend(dtb.to_le_bytes());
    out.extend(entry.to_le_bytes());
    out
}

/// A `newc` cpio archive (Linux Documentation/driver-api/early-userspace/buffer-format.rst)
/// with `/dev`, the console device node (char 5:1) and `/init`.
fn initramfs(init: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ino = 1;
    let mut entry = |out: &mut Vec<u8>, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]| {
        let fields = [
            ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0,
        ];
        ino += 1;
        out.extend(b"070701");
        for f in fields {
            out.extend(format!("{f:08x}").bytes());
        }
        out.extend(name.bytes());
        out.push(0);
        pad4(out);
        out.extend(data);
        pad4(out);
    };
    entry(&mut out, "dev", 0o040755, (0, 0), &[]);
    entry(&mut out, "dev/console", 0o020600, (5, 1), &[]);
    entry(&mut out, "init", 0o100755, (0, 0), init);
    entry(&mut out, "TRAILER!!!", 0, (0, 0), &[]);
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_aligned_and_terminated() {
        let cpio = initramfs(b"\x7fELF");
        assert!(cpio.starts_with(b"070701"));
        assert_eq!(cpio.len() % 4, 0);
        let text = String::from_utf8_lossy(&cpio);
        assert!(text.contains("dev/console\0"));
        assert!(text.contains("TRAILER!!!\0"));
    }

    #[test]
    fn the_stub_loads_its_two_literals() {
        let stub = loader_stub(0x5fe0_0000, 0x5000_0000);
        assert_eq!(stub.len(), 40);
        assert_eq!(&stub[24..32], &0x5fe0_0000u64.to_le_bytes());
        assert_eq!(&stub[32..40], &0x5000_0000u64.to_le_bytes());
    }

    #[test]
    fn the_config_says_what_the_host_side_assumes() {
        let config = config_source();
        assert!(config.contains(&format!("bootargs = \"{BOOTARGS}\"")));
        assert!(config.contains("memory@50000000"));
        assert!(config.contains("0x0 0x50000000 0x0 0x10000000"));
    }
}

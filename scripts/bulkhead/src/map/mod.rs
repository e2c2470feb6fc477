//! The partition map `cargo bh check` prints: the whole machine at a glance (host RAM
//! by address, CPUs, devices nobody owns, images and where they land), then each
//! partition in detail; as text, as JSON for scripts (schema: doc/map.md) and as an SVG
//! picture.

mod build;
mod svg;
mod text;

use serde::Serialize;

pub use build::build;
pub use svg::svg;
pub use text::text;

/// Version tag of the JSON document; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "bulkhead-map/1";

/// Everything the map shows.
#[derive(Debug, Clone, Serialize)]
pub struct Map {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The board's name.
    pub board: String,
    /// Its architecture (`aarch64`, `x86_64`).
    pub arch: String,
    /// The config file, as the CLI shows paths.
    pub config: String,
    /// How interrupt numbers read: `gic` (SGI/PPI/SPI and the INTID), `gsi` (x86 I/O
    /// APIC inputs) or `plain`.
    pub interrupts: &'static str,
    /// The hypervisor's own resources.
    pub hypervisor: Hypervisor,
    /// Every byte of platform RAM, by address: the hypervisor's, each partition region,
    /// each channel, and what is free.
    pub ram: Vec<RamSpan>,
    /// Every platform CPU and who runs on it.
    pub cpus: Vec<Cpu>,
    /// Every platform device and who owns it.
    pub devices: Vec<Device>,
    /// Every image the config names, with where it goes.
    pub images: Vec<Image>,
    /// The partitions, in config order (index = id).
    pub partitions: Vec<Partition>,
    /// The channels, in config order.
    pub channels: Vec<Channel>,
}

/// A range of addresses or ports, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First address.
    pub start: u64,
    /// One past the last address (saturates at 2^64 - 1).
    pub end: u64,
    /// `end - start`.
    pub size: u64,
}

impl Span {
    /// `size` bytes from `start`.
    pub fn new(start: u64, size: u64) -> Self {
        Self {
            start,
            end: start.saturating_add(size),
            size,
        }
    }
}

/// The hypervisor's resources.
#[derive(Debug, Clone, Serialize)]
pub struct Hypervisor {
    /// Its RAM.
    pub memory: Span,
    /// Its console's platform path.
    pub console: Option<String>,
}

/// One stretch of host RAM.
#[derive(Debug, Clone, Serialize)]
pub struct RamSpan {
    /// Where (host-physical).
    #[serde(flatten)]
    pub span: Span,
    /// `hypervisor`, `partition`, `channel` or `free`.
    pub kind: &'static str,
    /// The partition's or channel's name.
    pub owner: Option<String>,
    /// The config node that claims it.
    pub node: Option<String>,
    /// For a partition region: where the partition sees it.
    pub guest: Option<u64>,
}

/// One platform CPU.
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    /// Hardware id (MPIDR affinity, APIC id).
    pub id: u64,
    /// The id as the config writes it (or, for a CPU no config names, as a config would).
    pub name: String,
    /// The partition running on it.
    pub owner: Option<String>,
    /// Which of its vCPUs.
    pub vcpu: Option<usize>,
}

/// One platform device.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Platform path.
    pub path: String,
    /// Its `compatible`, most specific first.
    pub compatible: Vec<String>,
    /// `hypervisor`, a partition's name, or none.
    pub owner: Option<String>,
    /// Why the owner has it: `console`, `interrupt controller`, `kept`, `passthrough`.
    pub role: Option<&'static str>,
    /// MMIO ranges (host-physical).
    pub mmio: Vec<Span>,
    /// I/O port ranges (x86).
    pub ports: Vec<Span>,
    /// Interrupts.
    pub interrupts: Vec<Interrupt>,
    /// Whether it masters DMA.
    pub dma: bool,
}

/// An interrupt number and how the board's device tree writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupt {
    /// The number the hypervisor uses (GIC INTID, GSI).
    pub id: u32,
    /// `SPI 47 (INTID 79)`, `GSI 4`, `IRQ 5`.
    pub name: String,
}

/// One image file.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// The name the config gives it (its bundle entry).
    pub name: String,
    /// The host file, as the CLI shows paths.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is an in-tree test guest.
    pub test_guest: bool,
    /// Where it goes, once per partition that names it.
    pub loads: Vec<Load>,
}

/// Where one partition loads an image.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    /// The partition.
    pub partition: String,
    /// `kernel`, `initrd` or `dtb`.
    pub r#as: &'static str,
    /// Guest-physical address it is loaded at (the lowest segment of an ELF kernel; an
    /// arm64 `Image` after its `text_offset`).
    pub guest: u64,
    /// The host-physical address behind `guest`.
    pub host: Option<u64>,
}

/// One partition in detail.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// Its id (position under `/partitions`).
    pub id: usize,
    /// Its name.
    pub name: String,
    /// Its config node.
    pub node: String,
    /// Its CPUs: `cpus[i]` runs vCPU `i`.
    pub cpus: Vec<Cpu>,
    /// Its RAM regions.
    pub memory: Vec<Region>,
    /// Its passthrough devices (platform paths; details under `devices`).
    pub devices: Vec<String>,
    /// Boot images and where they go.
    pub boot: Boot,
    /// `virtual`, `none` or the platform path of its own UART.
    pub console: String,
    /// `halt` or `restart`.
    pub restart: &'static str,
}

/// One RAM region of a partition.
#[derive(Debug, Clone, Serialize)]
pub struct Region {
    /// Its config node.
    pub node: String,
    /// Where the partition sees it.
    pub guest: Span,
    /// Where it is.
    pub host: u64,
    /// Whether guest = host.
    pub identity: bool,
}

/// A partition's boot images and placement.
#[derive(Debug, Clone, Serialize)]
pub struct Boot {
    /// Kernel image name.
    pub kernel: String,
    /// Initrd image name.
    pub initrd: Option<String>,
    /// Own device tree image name.
    pub dtb: Option<String>,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// `load-address` as the config gives it.
    pub load_address: Option<u64>,
    /// The boot vCPU's first instruction.
    pub entry: Option<u64>,
    /// Where the boot information (device tree, zero page) goes and how much it may take.
    pub boot_info: Option<Span>,
}

/// One channel.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// Its name.
    pub name: String,
    /// Its config node.
    pub node: String,
    /// The partitions sharing it.
    pub partitions: Vec<String>,
    /// The shared RAM.
    pub host: Span,
    /// Where each of them sees it (same order).
    pub guest: Vec<u64>,
    /// The doorbell interrupt.
    pub doorbell: Interrupt,
}

impl Map {
    /// The map as pretty JSON (doc/map.md).
    pub fn json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }
}

/// A size in the largest unit that divides it: `256 MiB`, `4 KiB`, `100 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes & (unit - 1) == 0)
        .map(|(unit, name)| format!("{} {name}", bytes / unit))
        .unwrap_or_else(|| format!("{bytes} B"))
}

/// A size for people: exact when a unit divides it, else one decimal (`12.3 KiB`).
pub fn approx_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(unit, _)| bytes >= *unit) {
        Some((unit, _)) if bytes & (unit - 1) == 0 => size(bytes),
        Some((unit, name)) => format!("{:.1} {name}", bytes as f64 / *unit as f64),
        None => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_largest_exact_unit() {
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(1536 << 10), "1536 KiB");
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(100), "100 B");
        assert_eq!(approx_size(12_600), "12.3 KiB");
        assert_eq!(approx_size(16 << 20), "16 MiB");
    }
}

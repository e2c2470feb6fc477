//! The configuration model: what a validated config says about partitions and channels.
//!
//! Every type here is plain data. [`super::parse`] builds it from a config DTB and
//! [`super::validate`] checks it against a [`super::Platform`]; the hypervisor and the
//! host CLI only ever see a `Config` that passed both.

use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{GuestPhysAddr, HostPhysAddr, IoPort, Range};

/// A whole system: the hypervisor's own resources, the partitions and their channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The hypervisor's own resources.
    pub hypervisor: HypervisorConfig,
    /// Partitions in config order; a partition's index is its id.
    pub partitions: Vec<Partition>,
    /// Shared-memory channels between partitions.
    pub channels: Vec<Channel>,
}

/// The `/hypervisor` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HypervisorConfig {
    /// RAM the hypervisor keeps for itself (image, bundle, heap, stacks): never mapped
    /// into any partition.
    pub memory: Range<HostPhysAddr>,
    /// Platform-DT path of the hypervisor's console UART, if any.
    pub console: Option<String>,
}

/// What happens when a partition stops on its own (power-off, fault, panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestartPolicy {
    /// Stay halted (or faulted) until the system is reset.
    Halt,
    /// Restart from a pristine copy of the images with RAM cleared; a guest-requested
    /// reset (PSCI SYSTEM_RESET, a reset port) always restarts.
    Restart,
}

/// What a partition's access to an address it does not own leads to (property
/// `bad-access`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BadAccessPolicy {
    /// The partition is stopped (then halted or restarted by its [`RestartPolicy`]).
    #[default]
    Stop,
    /// The guest takes the architecture's answer to an access nothing answers (on ARM a
    /// synchronous external abort) and goes on; the event is reported all the same.
    Abort,
}

/// Where a partition's console goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleKind {
    /// An emulated UART (PL011 on ARM, 16550 on x86) whose lines the hypervisor prints
    /// on its own console prefixed with the partition's name.
    Virtual,
    /// The partition drives one of its passthrough devices (platform-DT path) itself.
    Passthrough(String),
    /// No console.
    None,
}

/// One partition (`/partitions/<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The node name; also the prefix of its console lines.
    pub name: String,
    /// Full config-DT path of the node, for messages.
    pub node: String,
    /// Physical CPUs by platform hardware id (`/cpus/cpu@N/reg`: MPIDR affinity on ARM,
    /// APIC id on x86). vCPU `i` runs on `cpus[i]`; vCPU 0 boots first.
    pub cpus: Vec<u64>,
    /// RAM regions in config order.
    pub memory: Vec<MemoryRegion>,
    /// Passthrough devices, resolved against the platform by validation.
    pub devices: Vec<Device>,
    /// Boot images and arguments.
    pub boot: Boot,
    /// Where the console goes.
    pub console: ConsoleKind,
    /// Whether the config names the console (`console` present) rather than taking
    /// the default.
    pub console_given: bool,
    /// What a stop leads to.
    pub restart: RestartPolicy,
    /// What an access outside everything it owns leads to.
    pub bad_access: BadAccessPolicy,
}

/// One RAM region of a partition (`memory@<gpa>` sub-node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Full config-DT path of the region node, for messages.
    pub node: String,
    /// Where the partition sees it.
    pub guest: Range<GuestPhysAddr>,
    /// Where it really is; equal to `guest` for identity placement (the default).
    pub host: HostPhysAddr,
}

impl MemoryRegion {
    /// The host-physical range backing the region.
    pub fn host_range(&self) -> Range<HostPhysAddr> {
        Range { start: self.host, size: self.guest.size }
    }

    /// Whether the region is identity-placed (guest address = host address).
    pub fn is_identity(&self) -> bool {
        self.guest.start.as_u64() == self.host.as_u64()
    }
}

/// A passthrough device: a platform node given wholly to one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Platform-DT path, e.g. `/pl011@9000000`.
    pub path: String,
    /// MMIO ranges from the platform node's `reg`, mapped guest = host.
    pub mmio: Vec<Range<HostPhysAddr>>,
    /// Interrupt ids (GIC INTIDs on ARM, GSIs on x86) from the platform node, routed to
    /// the partition.
    pub interrupts: Vec<u32>,
    /// I/O port ranges (x86), passed through.
    pub ports: Vec<Range<IoPort>>,
    /// Whether the device masters DMA (needs identity-placed RAM without an IOMMU).
    pub dma: bool,
}

/// Boot images and arguments of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// Kernel image name (a file next to the config on the host; a bundle entry on the
    /// target).
    pub kernel: String,
    /// Optional initial RAM disk.
    pub initrd: Option<String>,
    /// Optional DTB supplied by the partition instead of a generated one.
    pub dtb: Option<String>,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// Guest-physical load address of the kernel; by default the start of the first
    /// memory region (adjusted by the image's own header where it has one).
    pub load: Option<GuestPhysAddr>,
}

/// A shared-memory channel with a doorbell (`/channels/<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Node name.
    pub name: String,
    /// Full config-DT path, for messages.
    pub node: String,
    /// Names of the partitions that share it (two or more).
    pub partitions: Vec<String>,
    /// The shared RAM: outside every partition's own memory.
    pub host: Range<HostPhysAddr>,
    /// Where each sharer sees it (one entry per partition, same order).
    pub guest: Vec<GuestPhysAddr>,
    /// Virtual interrupt id each sharer receives when another rings the doorbell.
    pub doorbell: u32,
}

impl Partition {
    /// The host-physical address backing `[gpa, gpa + len)` of this partition's RAM, if
    /// one memory region holds all of it.
    pub fn host_of(&self, gpa: GuestPhysAddr, len: u64) -> Option<HostPhysAddr> {
        let want = Range::new(gpa, len.max(1))?;
        let r = self.memory.iter().find(|r| r.guest.contains_range(&want))?;
        r.host.checked_add(gpa.offset_from(r.guest.start)?)
    }
}

impl Config {
    /// The partition named `name`.
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

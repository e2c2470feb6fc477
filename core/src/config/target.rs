//! What one hypervisor build imposes on a config beyond the platform description.
//!
//! The platform says what the machine has; the [`Target`] says what this hypervisor
//! build can do with it: how many CPUs it runs, how large a guest-physical space its
//! stage-2 format covers, which guest windows it emulates in every partition, which
//! UARTs it drives, where a partition's images go and how much of its own RAM it needs.
//! An architecture crate supplies the value (formats and mechanisms, STYLE 3); core
//! applies the rules. The host CLI (`cargo bh check`) and the boot path validate with
//! the same value and the same code, so what `check` accepts is what boots.

use alloc::string::String;
use alloc::vec::Vec;

use super::error::ConfigError;
use super::model::Partition;
use super::platform::Platform;
use crate::addr::{GuestPhysAddr, HostPhysAddr, IoPort, Range};

/// A guest-physical window the hypervisor emulates (an interrupt controller, a virtual
/// console): nothing of the partition's may be mapped over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Where the partition sees it.
    pub range: Range<GuestPhysAddr>,
    /// What it is, for messages (e.g. `the emulated GICD`).
    pub what: String,
}

/// An I/O-port range the hypervisor emulates in a partition (x86: the virtual console,
/// the ACPI PM and reset ports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortWindow {
    /// The ports.
    pub range: Range<IoPort>,
    /// What they are, for messages.
    pub what: String,
}

/// What the hypervisor gives one partition besides its config: the windows it emulates
/// and the interrupt ids it uses itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestView {
    /// Emulated windows.
    pub windows: Vec<Window>,
    /// Emulated I/O ports.
    pub ports: Vec<PortWindow>,
    /// Interrupt ids the partition receives from the hypervisor (its timers, the
    /// virtual console): no doorbell or passthrough device may use them.
    pub interrupts: Vec<u32>,
}

/// The images of one partition, as bytes (host files or bundle entries).
#[derive(Clone, Copy, Debug)]
pub struct BootImages<'a> {
    /// The kernel.
    pub kernel: &'a [u8],
    /// The initial RAM disk, if the config names one.
    pub initrd: Option<&'a [u8]>,
    /// The partition's own device tree (or boot information), if the config names one.
    pub dtb: Option<&'a [u8]>,
}

/// Where a partition's images go in its guest-physical space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Where the kernel is copied.
    pub kernel: GuestPhysAddr,
    /// The boot vCPU's first instruction.
    pub entry: GuestPhysAddr,
    /// Where the boot information (device tree on ARM) goes; its address is the boot
    /// vCPU's first argument.
    pub info: GuestPhysAddr,
    /// Most bytes the boot information may take.
    pub info_max: u64,
    /// Where the initrd goes, if there is one.
    pub initrd: Option<GuestPhysAddr>,
}

/// The hypervisor's own RAM: the image at its load address, then the bundle, the heap
/// and the stage-2 table frames (doc/config.md, `/hypervisor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Where the boot loader puts the image.
    pub load: HostPhysAddr,
    /// Most bytes the image takes before the bundle (code, data, `.bss`, the boot
    /// stack); the linker script enforces it.
    pub image_max: u64,
    /// Heap bytes (partition control blocks, generated device trees, CPU stacks).
    pub heap: u64,
    /// Bytes of stage-2 table frames.
    pub frames: u64,
}

impl Footprint {
    /// The host range the hypervisor needs with a bundle of `bundle` bytes.
    pub fn range(&self, bundle: u64) -> Option<Range<HostPhysAddr>> {
        let bundle = bundle.checked_next_multiple_of(4096)?;
        let size = self.image_max.checked_add(bundle)?.checked_add(self.heap)?.checked_add(self.frames)?;
        Range::new(self.load, size)
    }
}

/// Counts the table frames of a partition's stage-2 tables (see [`Target::table_frames`]).
pub type TableFrames = fn(mappings: &[crate::stage2::Region]) -> Result<usize, String>;

/// One hypervisor build's rules; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Most platform CPUs the build runs on; a platform with more is refused.
    pub max_cpus: usize,
    /// Most vCPUs one partition may have (what its virtual interrupt controller
    /// addresses).
    pub max_vcpus: usize,
    /// Size in bits of the guest-physical space its stage-2 tables translate.
    pub ipa_bits: u32,
    /// Size in bits of the host-physical space its stage-2 tables can point at.
    pub pa_bits: u32,
    /// `compatible` strings of the UARTs its console driver handles.
    pub console_uarts: &'static [&'static str],
    /// `compatible` strings that make a device a UART (a partition that owns one and
    /// also gets a virtual console must say which is its console).
    pub uarts: &'static [&'static str],
    /// Interrupt ids a channel doorbell may use (inclusive).
    pub doorbells: (u32, u32),
    /// The windows and interrupts the build gives partition `p` on `platform`; an
    /// error when the platform lacks what the build needs (its interrupt controller).
    pub guest: fn(platform: &Platform, p: &Partition) -> Result<GuestView, ConfigError>,
    /// Places `p`'s images in its RAM (the architecture's boot protocol).
    pub place: fn(p: &Partition, images: &BootImages<'_>) -> Result<Placement, ConfigError>,
    /// Table frames the stage-2 tables of these mappings take (the build's format run
    /// through core's engine on the host heap), or why they cannot be built. The host
    /// check sets it; the boot path leaves it out, as it builds the very same tables
    /// from the real pool right after (building them twice would cost boot time and
    /// heap), so a config `check` accepted never runs out there.
    pub table_frames: Option<TableFrames>,
    /// The hypervisor's own RAM needs.
    pub footprint: Footprint,
}

impl Target {
    /// One past the highest guest-physical address a partition can use.
    pub fn ipa_limit(&self) -> u64 {
        1u64.checked_shl(self.ipa_bits).unwrap_or(u64::MAX)
    }

    /// One past the highest host-physical address the stage-2 tables can point at.
    pub fn pa_limit(&self) -> u64 {
        1u64.checked_shl(self.pa_bits).unwrap_or(u64::MAX)
    }
}

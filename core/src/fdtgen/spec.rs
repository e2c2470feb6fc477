//! What a guest device tree describes: the input of [`super::generate`].

use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::{GuestPhysAddr, Range};
use crate::config::{ConsoleKind, Partition};

/// Size of one GICv3 redistributor: the `RD_base` and `SGI_base` 64 KiB frames
/// (GICv3/v4 Architecture Specification, 12.10).
pub const GICR_FRAME_SIZE: u64 = 0x2_0000;

/// Size of the emulated PL011's register frame.
pub const PL011_SIZE: u64 = 0x1000;

/// How the guest calls PSCI (Arm DEN0022): the `method` of the `/psci` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `HVC #0`, taken to the hypervisor at EL2.
    Hvc,
    /// `SMC #0`, trapped to the hypervisor by `HCR_EL2.TSC`.
    Smc,
}

impl PsciConduit {
    /// The `method` string.
    pub fn method(self) -> &'static str {
        match self {
            Self::Hvc => "hvc",
            Self::Smc => "smc",
        }
    }
}

/// Where the guest sees its GICv3. The redistributor region starts at `gicr_base` and
/// holds one [`GICR_FRAME_SIZE`] frame per vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicV3Layout {
    /// The distributor (`GICD_*`) frame.
    pub gicd: Range<GuestPhysAddr>,
    /// First redistributor frame (vCPU 0's).
    pub gicr_base: GuestPhysAddr,
}

/// An emulated PL011 UART the hypervisor provides as the partition's console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualConsole {
    /// Base of its [`PL011_SIZE`] register frame.
    pub base: GuestPhysAddr,
    /// Its interrupt as a GIC INTID; must be an SPI (32..=1019).
    pub intid: u32,
}

/// The guest's console as the device tree names it in `/chosen/stdout-path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestConsole {
    /// An emulated PL011, generated as node `pl011@<base>`.
    Virtual(VirtualConsole),
    /// One of [`GuestDtSpec::devices`] (platform-DT path).
    Passthrough(String),
    /// No `stdout-path`.
    None,
}

/// What the board (arch crate and board constants) fixes for every guest on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestBoard {
    /// The emulated GICv3's guest addresses.
    pub gic: GicV3Layout,
    /// The PSCI conduit guests use.
    pub psci: PsciConduit,
    /// Where a [`ConsoleKind::Virtual`] console appears.
    pub console: VirtualConsole,
}

/// Everything a generated guest device tree says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestDtSpec<'a> {
    /// Partition name: `model = "bulkhead,<name>"` and `/chosen/bulkhead,partition`.
    pub name: String,
    /// Partition id: `/chosen/bulkhead,partition-id`.
    pub id: u32,
    /// RAM regions, one `memory@<base>` node each.
    pub memory: Vec<Range<GuestPhysAddr>>,
    /// vCPU count; vCPU `i` is `cpu@i` with MPIDR affinity (Aff0) `i`.
    pub vcpus: u32,
    /// PSCI conduit.
    pub psci: PsciConduit,
    /// Interrupt controller layout.
    pub gic: GicV3Layout,
    /// Platform-DT paths of passthrough devices, copied from `platform`.
    pub devices: Vec<String>,
    /// The console.
    pub console: GuestConsole,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// Where the loader placed the initial RAM disk.
    pub initrd: Option<Range<GuestPhysAddr>>,
    /// The platform DTB: source of device nodes and of the CPU `compatible`.
    pub platform: Option<&'a [u8]>,
}

impl<'a> GuestDtSpec<'a> {
    /// The spec for partition `id` of a validated config. The initrd's placement is
    /// the loader's choice: set [`Self::initrd`] once it is known.
    pub fn from_partition(
        partition: &Partition,
        id: u32,
        platform: &'a [u8],
        board: &GuestBoard,
    ) -> Self {
        let console = match &partition.console {
            ConsoleKind::Virtual => GuestConsole::Virtual(board.console),
            ConsoleKind::Passthrough(path) => GuestConsole::Passthrough(path.clone()),
            ConsoleKind::None => GuestConsole::None,
        };
        Self {
            name: partition.name.clone(),
            id,
            memory: partition.memory.iter().map(|m| m.guest).collect(),
            vcpus: u32::try_from(partition.cpus.len()).unwrap_or(u32::MAX),
            psci: board.psci,
            gic: board.gic,
            devices: partition.devices.iter().map(|d| d.path.clone()).collect(),
            console,
            bootargs: partition.boot.bootargs.clone(),
            initrd: None,
            platform: Some(platform),
        }
    }
}

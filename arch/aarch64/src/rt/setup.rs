//! From config to runnable partitions: stage-2 tables, virtual devices, images.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use bulkhead_core::addr::{GuestPhysAddr, Range};
use bulkhead_core::bundle::Bundle;
use bulkhead_core::config::{Config, ConsoleKind, Partition, Placement};
use bulkhead_core::dt::{Quoted, Tree};
use bulkhead_core::fdtgen::{self, GuestBoard, GuestDtSpec};
use bulkhead_core::partition::PartitionCtl;
use bulkhead_core::stage2::{grant_name, map_regions, partition_regions, IdentityMemory, Stage2, TableFrames};
use bulkhead_core::vdev::VirtPl011;
use spin::Mutex;

use super::console::Sink;
use super::gic::PartGic;
use crate::stage2::Aarch64Stage2;

/// Stage-2 table frames for every partition.
pub static FRAMES: Mutex<TableFrames> = Mutex::new(TableFrames::new());

/// The images a partition boots from, kept pristine in the bundle for restarts.
pub struct Images {
    kernel: &'static [u8],
    initrd: Option<&'static [u8]>,
    dtb: Vec<u8>,
    place: Placement,
}

/// A partition as the aarch64 runtime holds it.
pub struct Part {
    /// Core's shared control block.
    pub ctl: PartitionCtl,
    /// The validated config of this partition.
    pub config: Partition,
    /// VTTBR_EL2: VMID and stage-2 root.
    pub vttbr: u64,
    /// VTCR_EL2 for its stage-2 format.
    pub vtcr: u64,
    /// Physical MPIDR affinity of the CPU running each vCPU.
    pub pcpus: Vec<u64>,
    /// Interrupt-controller virtualization state.
    pub gic: Arc<PartGic>,
    images: Images,
}

/// What the runtime found on the platform that every partition shares.
pub struct Machine<'a> {
    /// The platform DTB.
    pub dtb: &'a [u8],
    /// The platform DTB, parsed.
    pub tree: &'a Tree<'a>,
    /// The bundle with the config and images.
    pub bundle: &'a Bundle<'static>,
    /// Guest-visible layout of GIC, PSCI conduit and virtual console.
    pub board: GuestBoard,
}

/// Builds partition `id` of `config`, its images going where `place` says
/// (`config::check_boot`). Errors name the partition's node.
pub fn build(id: usize, config: &Config, m: &Machine<'_>, place: Placement) -> Result<Part, String> {
    let p = &config.partitions[id];
    let images = load_images(id, p, m, place).map_err(|e| format!("{}: {e}", p.node))?;
    let mut ctl = PartitionCtl::new(id, &p.name, p.cpus.len(), p.restart);
    ctl.bad_access = p.bad_access;
    let quiet = (p.console == ConsoleKind::Virtual).then_some(m.board.console.intid);
    // PartGic is several KiB: matched rather than `map_err(..)?`-ed, which costs a copy.
    let gic = match PartGic::new(p, m.board.gic, quiet) {
        Ok(gic) => Arc::new(gic),
        Err(e) => return Err(String::from(e)),
    };
    let mut part = Part {
        ctl,
        config: p.clone(),
        vttbr: 0,
        vtcr: 0,
        pcpus: p.cpus.clone(),
        gic,
        images,
    };
    add_devices(&mut part, m)?;
    let (vttbr, vtcr) = stage2_tables(id, config).map_err(|e| format!("{}: {e}", p.node))?;
    part.vttbr = vttbr;
    part.vtcr = vtcr;
    Ok(part)
}

fn add_devices(part: &mut Part, m: &Machine<'_>) -> Result<(), String> {
    for (range, dev) in part.gic.devices() {
        part.ctl.devices.add(range, dev).map_err(|e| String::from(e.0))?;
    }
    if part.config.console == ConsoleKind::Virtual {
        let uart = Arc::new(VirtPl011::new(&part.config.name, Arc::new(Sink)));
        let range = Range::new(m.board.console.base, fdtgen::PL011_SIZE).ok_or("console range")?;
        part.ctl.devices.add(range, Box::new(uart.clone())).map_err(|e| String::from(e.0))?;
        part.ctl.console = Some(uart);
    }
    Ok(())
}

/// Maps what core's plan grants the partition (RAM, device pages, channel windows) and
/// nothing else.
fn stage2_tables(id: usize, config: &Config) -> Result<(u64, u64), String> {
    let format = Aarch64Stage2::new();
    let vtcr = format.vtcr();
    // SAFETY: the table frames come from the hypervisor's own RAM, identity-mapped
    // read-write at EL2 for good (mmu.rs).
    let phys = unsafe { IdentityMemory::new() };
    let mut s2 = Stage2::new(format, phys, &FRAMES).map_err(|e| format!("stage-2 tables: {e}"))?;
    map_regions(&mut s2, &partition_regions(config, id))
        .map_err(|(r, e)| format!("stage-2 tables: {} at {}: {e}", grant_name(r.grant), r.gpa))?;
    let vttbr = crate::stage2::vttbr(s2.root(), id as u8 + 1);
    core::mem::forget(s2); // the tables live as long as the partition: for ever
    Ok((vttbr, vtcr))
}

fn load_images(id: usize, p: &Partition, m: &Machine<'_>, place: Placement) -> Result<Images, String> {
    let entry = |name: &str| m.bundle.get(name).ok_or_else(|| format!("image {name} is not in the bundle", name = Quoted(name)));
    let kernel = entry(&p.boot.kernel)?;
    let initrd = match &p.boot.initrd {
        Some(n) => Some(entry(n)?),
        None => None,
    };
    let dtb = match &p.boot.dtb {
        Some(name) => Vec::from(entry(name)?),
        None => {
            let mut spec = GuestDtSpec::from_partition(p, id as u32, m.dtb, &m.board);
            spec.initrd = place.initrd.zip(initrd).and_then(|(at, i)| Range::new(at, i.len() as u64));
            fdtgen::generate_from(&spec, Some(m.tree)).map_err(|e| format!("guest device tree: {e}"))?
        }
    };
    if dtb.len() as u64 > place.info_max {
        return Err(format!("dtb: the device tree is larger than {} KiB", place.info_max / 1024));
    }
    Ok(Images { kernel, initrd, dtb, place })
}

impl Part {
    /// Copies the pristine images into RAM (clearing it first when `clear`); returns
    /// the boot vCPU's entry and x0.
    pub fn load(&self, clear: bool) -> Result<(GuestPhysAddr, u64), &'static str> {
        if clear {
            for r in &self.config.memory {
                // SAFETY: the region is this partition's RAM (validated not to overlap
                // the hypervisor or another partition), identity-mapped at EL2, and no
                // vCPU of the partition is running (the restart protocol waited).
                unsafe { super::mem::zero(r.host.as_u64() as *mut u8, r.guest.size as usize) };
                // The guest starts with its caches off: the zeros must reach memory, not
                // stay in this CPU's cache above a stale old run (Arm ARM D7.5).
                super::cache::clean_range(r.host.as_u64(), r.guest.size as usize);
            }
        }
        self.gic.reset();
        let i = &self.images;
        self.copy(i.place.kernel, i.kernel)?;
        self.copy(i.place.info, &i.dtb)?;
        if let (Some(at), Some(initrd)) = (i.place.initrd, i.initrd) {
            self.copy(at, initrd)?;
        }
        super::cache::sync_instructions();
        Ok((i.place.entry, i.place.info.as_u64()))
    }

    fn copy(&self, gpa: GuestPhysAddr, bytes: &[u8]) -> Result<(), &'static str> {
        let hpa = self.config.host_of(gpa, bytes.len() as u64).ok_or("image outside the partition's RAM")?;
        // SAFETY: `host_of` proved the destination lies inside this partition's RAM,
        // which the hypervisor may write while the partition is stopped or not yet
        // started; the source is the bundle, which no partition can reach.
        unsafe { super::mem::copy(hpa.as_u64() as *mut u8, bytes.as_ptr(), bytes.len()) };
        super::cache::clean_range(hpa.as_u64(), bytes.len());
        Ok(())
    }
}

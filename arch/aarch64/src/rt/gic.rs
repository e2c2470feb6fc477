//! GICv3 at run time: the physical GIC the hypervisor keeps, and per partition the
//! emulated distributor and redistributors plus interrupt injection.
//!
//! Physical interrupts of a partition (its SPIs, the two EL1 timer PPIs) reach EL2
//! (HCR_EL2.IMO), are priority-dropped here and handed to the guest through a list
//! register with the HW bit, so the guest's own deactivation deactivates the physical
//! interrupt (EOImode = 1). A level-sensitive one that arrives while the guest masks
//! IRQs is re-sampled before the guest acknowledges it (`vgic::resample`). One SGI is the
//! hypervisor's: it kicks a CPU out of guest mode to stop a partition or to deliver
//! queued virtual interrupts.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, AtomicU8, Ordering};

use bulkhead_core::addr::{GuestPhysAddr, Range};
use bulkhead_core::config::Partition;
use bulkhead_core::fdtgen::GicV3Layout;
use bulkhead_core::vdev::{BadAccess, MmioDevice};
use bulkhead_drivers::gicv3::{GicDistributor, GICR_STRIDE};
use spin::{Mutex, Once};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::setup::Part;
use crate::regs::{
    icc_sgi1r_el1, ICC_DIR_EL1, ICC_EOIR1_EL1, ICC_IAR1_EL1, ICC_SGI1R_EL1, ICH_ELRSR_EL2, ICH_HCR_EL2, ICH_VMCR_EL2,
    ICH_VTR_EL2,
};
use crate::vgic::hw::{init_cpu_interface, CpuListRegs, HwGic};
use crate::vgic::{
    self, IntIdSet, PendingIrqs, PhysGic, VGicDistributor, VGicRedistributor, GICR_FRAME_SIZE, PTIMER_PPI, VTIMER_PPI,
};

/// The SGI the hypervisor keeps for itself (guests' SGIs are all virtual).
const KICK_SGI: u32 = 8;
/// Redistributor region the runtime may walk (QEMU virt: 0x00f60000 bytes).
const GICR_REGION: usize = 123 * GICR_STRIDE;

static HW: Once<HwGic> = Once::new();

fn hw() -> &'static HwGic {
    HW.get().expect("GIC used before init_distributor")
}

/// Initialises the distributor at `gicd` and remembers the redistributors at `gicr`;
/// returns the number of SPI lines.
pub fn init_distributor(gicd: usize, gicr: usize) -> u32 {
    // SAFETY: the addresses come from the platform DTB's GICv3 node; the hypervisor
    // owns the GIC and never maps it into a partition.
    let hw = HW.call_once(|| unsafe { HwGic::new(GicDistributor::new(gicd), gicr, GICR_REGION) });
    hw.distributor().init();
    hw.distributor().typer_it_lines()
}

/// Wakes this CPU's redistributor and sets up its physical CPU interface.
pub fn init_cpu() {
    if let Some(rd) = hw().redistributor(super::smp::my_affinity()) {
        rd.wake();
        rd.init();
        rd.enable_ppi(KICK_SGI);
    }
    init_cpu_interface();
}

/// Turns on the virtual CPU interface for vCPU `index` of `part` on this CPU.
pub fn enable_guest_interrupts(_part: &Part, _index: usize) {
    ICH_HCR_EL2.write(ICH_HCR_EL2::En::SET);
}

/// Clears the virtual CPU interface (list registers, VMCR, the re-sample trap) for a reset
/// of vCPU `index` of `part`.
///
/// A hardware-linked interrupt still pending or active in a list register (the guest
/// stopped before its EOI) is active at the physical GIC and would stay so for good,
/// never firing again for the next run: it is deactivated here (IHI 0069, ICH_LR<n>_EL2:
/// the hypervisor owns that deactivation once it discards the list register).
pub fn reset_virtual_interface(part: &Part, index: usize) {
    let lrs = CpuListRegs::new();
    use crate::vgic::ListRegs;
    for n in 0..lrs.count() {
        let lr = lrs.read(n);
        if let (Some(pintid), false) = (lr.hw(), lr.state() == vgic::LrState::Invalid) {
            ICC_DIR_EL1.write(ICC_DIR_EL1::INTID.val(pintid.into()));
        }
        // SAFETY: writing zero makes the list register invalid: no interrupt mapped.
        unsafe { crate::regs::ich_lr::write(n, 0) };
    }
    ICH_VMCR_EL2.set(0);
    ICH_HCR_EL2.modify(ICH_HCR_EL2::TALL1::CLEAR);
    if let Some(marked) = part.gic.resample.get(index) {
        marked.store(0, Ordering::Relaxed);
    }
}

/// Sends the kick SGI to the CPU with affinity `mpidr`.
pub fn kick(mpidr: u64) {
    ICC_SGI1R_EL1.set(icc_sgi1r_el1::to_mpidr(mpidr, KICK_SGI));
}

/// Sleeps (WFI) until an interrupt is pending, then discards what arrived: this CPU has
/// no running vCPU, so a kick only means "look again". WFI, not WFE: under QEMU a WFE
/// loop spins, and with icount it would measure the spinning.
pub fn idle() {
    // The stopped guest's timers must not keep waking this CPU.
    // SAFETY: CNTV_CTL_EL0 and CNTP_CTL_EL0 belong to the guest of this CPU, which is not
    // running; WFI only waits.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "msr cntp_ctl_el0, xzr", "isb", "wfi") };
    loop {
        let intid = ICC_IAR1_EL1.read(ICC_IAR1_EL1::INTID) as u32;
        if intid >= 1020 {
            break;
        }
        ICC_EOIR1_EL1.write(ICC_EOIR1_EL1::INTID.val(intid.into()));
        ICC_DIR_EL1.write(ICC_DIR_EL1::INTID.val(intid.into()));
    }
}

/// PSCI CPU_SUSPEND of vCPU `index` of `part`: waits as the guest's own WFI would, until
/// it has an interrupt to take. Every interrupt that can become one is a physical
/// interrupt on this CPU (its own, or the kick that comes with a queued virtual one),
/// which ends a WFI at EL2 although EL2 masks it; one already in a list register or
/// queued returns at once. The interrupt is then taken as soon as the guest resumes.
pub fn standby(part: &Part, index: usize) {
    let lrs = CpuListRegs::new();
    use crate::vgic::ListRegs;
    let pending = |n| matches!(lrs.read(n).state(), vgic::LrState::Pending | vgic::LrState::PendingActive);
    let waiting = (0..lrs.count()).any(pending);
    if waiting || part.gic.pending.get(index).is_some_and(|q| !q.is_empty()) {
        return;
    }
    // SAFETY: DSB completes the guest's memory accesses first, as before its own WFI; WFI
    // only waits, and a pending physical interrupt ends it whatever EL2's mask.
    unsafe { core::arch::asm!("dsb sy", "wfi") };
}

/// Handles the physical interrupt that made this CPU leave the guest, which had IRQs
/// masked (`PSTATE.I`) if `guest_masked`. Returns whether it was a kick, after which core
/// must look at the partition's state; the guest's own interrupts are injected and the
/// vCPU re-enters at once.
pub fn physical_irq(part: &Part, index: usize, guest_masked: bool) -> bool {
    let intid = ICC_IAR1_EL1.read(ICC_IAR1_EL1::INTID) as u32;
    if intid >= 1020 {
        return false; // spurious
    }
    ICC_EOIR1_EL1.write(ICC_EOIR1_EL1::INTID.val(intid.into()));
    let g = &part.gic;
    let priority = match vgic::timer_index(intid) {
        Some(t) => g.timer_priority.get(index).map_or(vgic::RESET_PRIORITY, |p| p[t].load(Ordering::Relaxed)),
        None if g.owned.contains(intid) => g.priority(index, intid),
        None => {
            ICC_DIR_EL1.write(ICC_DIR_EL1::INTID.val(intid.into()));
            return intid == KICK_SGI;
        }
    };
    // SAFETY: `intid` is this partition's (its SPI or the vCPU's own timer PPI), was
    // acknowledged on this CPU and is still active: exactly `inject`'s contract.
    match unsafe { inject_hw(intid, priority) } {
        Ok(lr) if guest_masked && g.is_level(intid) => g.mark_for_resample(index, lr),
        Ok(_) => {}
        Err(vgic::Full) => {
            // No free list register: give up the hardware link and queue it virtually.
            ICC_DIR_EL1.write(ICC_DIR_EL1::INTID.val(intid.into()));
            g.pending[index].post(intid);
        }
    }
    false
}

/// A Group 1 CPU-interface access of vCPU `index` of `part` trapped (`ICH_HCR_EL2.TALL1`)
/// because interrupts it could not take when they came wait in list registers: each one
/// whose physical line is no longer asserted is withdrawn and deactivated, the trap is
/// cleared, and the guest runs its access again (`vgic::resample`).
pub fn resample(part: &Part, index: usize) {
    ICH_HCR_EL2.modify(ICH_HCR_EL2::TALL1::CLEAR);
    let marked = part.gic.resample.get(index).map_or(0, |m| m.swap(0, Ordering::Relaxed));
    let Some(&mpidr) = part.pcpus.get(index) else { return };
    let asserted = |pintid: u32| {
        let word = if pintid < 32 { hw().ppi_pending_word(mpidr) } else { hw().spi_pending_word(pintid as usize / 32) };
        word & (1 << (pintid % 32)) != 0
    };
    let deactivate = |pintid: u32| ICC_DIR_EL1.write(ICC_DIR_EL1::INTID.val(pintid.into()));
    vgic::resample(&mut CpuListRegs::new(), marked, asserted, deactivate);
}

/// Puts hardware interrupt `intid` in the lowest free list register and returns its
/// index. A hardware-mapped interrupt cannot already be in one: it stays active at the
/// physical GIC until the guest deactivates it, so it cannot fire again before; the
/// duplicate search of [`vgic::inject`] is skipped on this, the most frequent, path.
///
/// # Safety
/// As [`vgic::inject`] with `hw = Some(intid)`.
#[inline]
unsafe fn inject_hw(intid: u32, priority: u8) -> Result<usize, vgic::Full> {
    let count = ICH_VTR_EL2.read(ICH_VTR_EL2::ListRegs) + 1;
    let free = ICH_ELRSR_EL2.get() & ((1 << count) - 1);
    if free == 0 {
        return Err(vgic::Full);
    }
    let lr = vgic::ListReg::pending(intid, priority).with_hw(intid);
    let n = free.trailing_zeros() as usize;
    // SAFETY: forwarded from the caller; the list register was free (ICH_ELRSR_EL2).
    unsafe { crate::regs::ich_lr::write(n, lr.raw()) };
    Ok(n)
}

/// Moves queued virtual interrupts of vCPU `index` into the list registers.
#[inline]
pub fn flush_pending(part: &Part, index: usize) {
    if part.gic.pending.get(index).is_some_and(|q| !q.is_empty()) {
        drain_pending(part, index);
    }
}

#[cold]
fn drain_pending(part: &Part, index: usize) {
    let g = &part.gic;
    let Some(q) = g.pending.get(index) else { return };
    // SAFETY: `lookup` returns no hardware mapping: only virtual interrupts are queued.
    let _ = unsafe { q.drain(&mut CpuListRegs::new(), |intid| g.deliverable(index, intid).then(|| (g.priority(index, intid), None))) };
}

/// A guest wrote ICC_SGI1R_EL1: queue the SGI for each target vCPU and kick the CPUs.
pub fn guest_sgi(part: &Part, index: usize, value: u64) {
    let g = &part.gic;
    let (intid, targets) = vgic::sgi_targets(value, index, g.pending.len());
    for (i, q) in g.pending.iter().enumerate() {
        if targets & (1 << i) != 0 && q.post(intid) && i != index {
            kick(part.pcpus[i]);
        }
    }
}

/// The emulated GIC of one partition.
pub struct PartGic {
    dist: Mutex<VGicDistributor>,
    redists: Vec<Mutex<VGicRedistributor>>,
    pending: Vec<PendingIrqs>,
    owned: IntIdSet,
    layout: GicV3Layout,
    name: alloc::string::String,
    /// Each vCPU's virtual- and physical-timer priorities (`vgic::timer_index` order),
    /// copied out of its redistributor on writes so the timer path takes no lock.
    timer_priority: Vec<[AtomicU8; 2]>,
    /// Per vCPU, the list registers (bit n = `ICH_LR<n>_EL2`) holding level-sensitive
    /// interrupts to re-sample at its next Group 1 access; only its own CPU touches it.
    resample: Vec<AtomicU16>,
}

impl PartGic {
    /// The GIC partition `p` sees at `layout`.
    /// `quiet` is the SPI of an emulated device the guest's device tree names (its
    /// virtual console): the guest may program it without being reported.
    pub fn new(p: &Partition, layout: GicV3Layout, quiet: Option<u32>) -> Result<Self, &'static str> {
        let spis: Vec<u32> = p.devices.iter().flat_map(|d| d.interrupts.iter().copied()).filter(|&i| i >= 32).collect();
        let mut dist = VGicDistributor::new(&spis, &p.cpus).map_err(|_| "partition's interrupts do not fit the vGIC")?;
        if let Some(intid) = quiet {
            dist.tolerate(intid);
        }
        let owned = dist.owned().clone();
        let n = p.cpus.len();
        let mut redists = Vec::with_capacity(n);
        for (i, &mpidr) in p.cpus.iter().enumerate() {
            let rd = VGicRedistributor::new(i, n, mpidr, 0).map_err(|_| "too many vCPUs for the vGIC")?;
            redists.push(Mutex::new(rd));
        }
        let pending = (0..n).map(|_| PendingIrqs::new()).collect();
        let timer_priority = (0..n).map(|_| [const { AtomicU8::new(vgic::RESET_PRIORITY) }; 2]).collect();
        let resample = (0..n).map(|_| AtomicU16::new(0)).collect();
        let dist = Mutex::new(dist);
        Ok(Self { dist, redists, pending, owned, layout, name: p.name.clone(), timer_priority, resample })
    }

    /// Puts distributor and redistributors in their reset state (boot and restart).
    pub fn reset(&self) {
        self.dist.lock().reset(hw());
        for (rd, p) in self.redists.iter().zip(&self.timer_priority) {
            let mut rd = rd.lock();
            rd.reset(hw());
            cache_timer_priorities(&rd, p);
        }
        self.pending.iter().for_each(PendingIrqs::clear);
    }

    /// Whether the guest has virtual interrupt `intid` enabled on vCPU `vcpu` (an SGI or
    /// PPI in that vCPU's redistributor, an SPI in the distributor): a queued one it
    /// disabled stays queued, as a pending interrupt does on hardware.
    fn deliverable(&self, vcpu: usize, intid: u32) -> bool {
        if intid < 32 {
            self.redists.get(vcpu).is_some_and(|rd| rd.lock().is_enabled(intid))
        } else {
            self.dist.lock().is_forwarding(intid)
        }
    }

    /// Whether physical interrupt `intid` of the partition is level-sensitive: the timers'
    /// always are (their output is a level), an SPI unless the guest made it edge.
    fn is_level(&self, intid: u32) -> bool {
        intid == VTIMER_PPI || intid == PTIMER_PPI || !self.dist.lock().is_edge(intid)
    }

    /// Remembers list register `lr` of vCPU `vcpu` for re-sampling and traps the vCPU's
    /// next Group 1 CPU-interface access (see [`resample`]); called on its own CPU.
    fn mark_for_resample(&self, vcpu: usize, lr: usize) {
        if let Some(marked) = self.resample.get(vcpu) {
            marked.fetch_or(1 << lr, Ordering::Relaxed);
            ICH_HCR_EL2.modify(ICH_HCR_EL2::TALL1::SET);
        }
    }

    #[inline]
    fn priority(&self, vcpu: usize, intid: u32) -> u8 {
        if intid < 32 {
            self.redists.get(vcpu).map_or(vgic::RESET_PRIORITY, |rd| rd.lock().priority(intid))
        } else {
            self.dist.lock().priority(intid)
        }
    }

    /// The emulated regions: the distributor frame and one redistributor per vCPU.
    pub fn devices(self: &Arc<Self>) -> Vec<(Range<GuestPhysAddr>, Box<dyn MmioDevice>)> {
        let gicr = Range::new(self.layout.gicr_base, self.redists.len() as u64 * GICR_FRAME_SIZE);
        let mut out: Vec<(Range<GuestPhysAddr>, Box<dyn MmioDevice>)> = Vec::new();
        out.push((self.layout.gicd, Box::new(Gicd(self.clone()))));
        if let Some(r) = gicr {
            out.push((r, Box::new(Gicr(self.clone()))));
        }
        out
    }
}

fn bad(_: vgic::BadAccess) -> BadAccess {
    BadAccess("GIC register access of a size the architecture does not allow")
}

struct Gicd(Arc<PartGic>);

impl MmioDevice for Gicd {
    fn read(&self, _vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        self.0.dist.lock().read(offset, size, hw()).map_err(bad)
    }
    fn write(&self, vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        let mut dist = self.0.dist.lock();
        let before = dist.foreign_writes();
        dist.write(offset, size, value, hw()).map_err(bad)?;
        if dist.foreign_writes() != before && before == 0 {
            // Reported once: the write itself was ignored (the interrupt is not ours).
            defmt::warn!(
                "partition {=str} vcpu {=usize} tried to enable or raise an interrupt it does not own (GICD+{=u64:#x}): ignored",
                self.0.name.as_str(), vcpu, offset
            );
        }
        Ok(())
    }
}

struct Gicr(Arc<PartGic>);

impl Gicr {
    fn frame(&self, offset: u64) -> Result<(&Mutex<VGicRedistributor>, u64), BadAccess> {
        let (i, off) = vgic::locate(offset, self.0.redists.len()).ok_or(BadAccess("beyond the partition's redistributors"))?;
        Ok((&self.0.redists[i], off))
    }
}

impl MmioDevice for Gicr {
    fn read(&self, _vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        let (rd, off) = self.frame(offset)?;
        rd.lock().read(off, size, hw()).map_err(bad)
    }
    fn write(&self, _vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        let (rd, off) = self.frame(offset)?;
        let mut rd = rd.lock();
        rd.write(off, size, value, hw()).map_err(bad)?;
        if let Some(p) = self.0.timer_priority.get(rd.index()) {
            cache_timer_priorities(&rd, p);
        }
        Ok(())
    }
}

/// Copies the guest's priorities of the two timer PPIs out of its redistributor.
fn cache_timer_priorities(rd: &VGicRedistributor, cache: &[AtomicU8; 2]) {
    for (intid, slot) in [VTIMER_PPI, PTIMER_PPI].into_iter().zip(cache) {
        slot.store(rd.priority(intid), Ordering::Relaxed);
    }
}

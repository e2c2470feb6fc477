//! GICv3 distributor and redistributor drivers for the hypervisor's own use.
//!
//! Register layouts and field names follow Arm IHI 0069 ("GICv3 and GICv4 Architecture
//! Specification"): 12.9 for the distributor (`GICD_*`), 12.11 for the redistributors
//! (`GICR_*`). Only affinity routing (`ARE_NS` = 1) and Non-secure Group 1 are used: the
//! hypervisor owns every interrupt and hands them to partitions through the vGIC.

use core::hint::spin_loop;

use spin::Mutex;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::ReadWrite;

/// INTIDs covered by the distributor's per-interrupt registers (IHI 0069 2.2).
pub const NR_INTIDS: usize = 1024;
/// First Shared Peripheral Interrupt.
pub const SPI_FIRST: u32 = 32;
/// Last SPI; 1020..1023 are special INTIDs (IHI 0069 2.2).
pub const SPI_LAST: u32 = 1019;
/// Size of one redistributor: the RD_base and SGI_base 64 KiB frames.
pub const GICR_STRIDE: usize = 0x2_0000;
/// Priority given to every interrupt by [`GicDistributor::init`] and [`Redistributor::init`].
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// `GICD_PIDR2`/`GICR_PIDR2` offset inside a 64 KiB frame.
pub const PIDR2_OFFSET: usize = 0xffe8;

mod regs;

pub use regs::{
    Gicd, Gicr, GICD_CTLR, GICD_IROUTER, GICD_TYPER, GICR_CTLR, GICR_TYPER, GICR_WAKER, GIC_PIDR2,
};

/// `GICR_TYPER.Affinity_Value` / `GICD_IROUTER` affinity of a PE from its `MPIDR_EL1`:
/// Aff3 (MPIDR bits 39:32) at bits 31:24, Aff2..Aff0 (bits 23:0) unchanged.
pub const fn affinity_value(mpidr: u64) -> u32 {
    ((((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xff_ffff)) as u32
}

/// `GICD_IROUTER` value (IRM = 0) that targets the PE with `MPIDR_EL1` value `mpidr`:
/// Aff3 stays at bits 39:32; MT, U and the RES1 bit 31 of `MPIDR_EL1` are dropped.
pub const fn irouter_from_mpidr(mpidr: u64) -> u64 {
    mpidr & 0xff_00ff_ffff
}

fn is_spi(intid: u32) -> bool {
    (SPI_FIRST..=SPI_LAST).contains(&intid)
}

/// Register index and bit of `intid` in a one-bit-per-interrupt register array.
fn word_bit(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

/// The physical distributor. All SPIs are Non-secure Group 1 and affinity-routed.
///
/// Methods ignore INTIDs outside the SPI range (and assert on them in debug builds).
/// Configuration read-modify-writes (`GICD_ICFGR`) are serialized by an internal lock,
/// so one instance can be shared by all physical CPUs.
pub struct GicDistributor {
    base: usize,
    cfg_lock: Mutex<()>,
}

impl GicDistributor {
    /// A driver for the distributor whose 64 KiB frame is mapped at `base`.
    ///
    /// # Safety
    /// `base` must be the hypervisor-virtual address of a `GICD` frame mapped as Device
    /// memory for the rest of the program, and this must be the only driver instance
    /// that programs it.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            base,
            cfg_lock: Mutex::new(()),
        }
    }

    fn regs(&self) -> &Gicd {
        // SAFETY: `new`'s contract: `base` maps a live GICD frame for 'static; the
        // register types are interior-mutable volatile cells.
        unsafe { &*(self.base as *const Gicd) }
    }

    /// `GICD_TYPER.ITLinesNumber`: the highest SPI is 32 * (n + 1) - 1 (capped at 1019).
    pub fn typer_it_lines(&self) -> u32 {
        self.regs().typer.read(GICD_TYPER::ITLinesNumber)
    }

    /// One past the highest implemented SPI INTID.
    pub fn spi_end(&self) -> u32 {
        (32 * (self.typer_it_lines() + 1)).min(SPI_LAST + 1)
    }

    /// Waits until `GICD_CTLR.RWP` clears (after `GICD_CTLR` or `GICD_ICENABLER` writes).
    pub fn wait_rwp(&self) {
        while self.regs().ctlr.is_set(GICD_CTLR::RWP) {
            spin_loop();
        }
    }

    /// Resets the distributor for the hypervisor: disabled while every SPI is made
    /// Non-secure Group 1, disabled, inactive, not pending, level-sensitive and given
    /// [`DEFAULT_PRIORITY`]; then affinity routing and Group 1 are enabled.
    pub fn init(&self) {
        let r = self.regs();
        r.ctlr.set(0);
        self.wait_rwp();
        let end = self.spi_end();
        for n in 1..end.div_ceil(32) as usize {
            r.icenabler[n].set(!0);
            r.icpendr[n].set(!0);
            r.icactiver[n].set(!0);
            r.igroupr[n].set(!0);
            r.igrpmodr[n].set(0);
        }
        for n in 2..end.div_ceil(16) as usize {
            r.icfgr[n].set(0);
        }
        for intid in SPI_FIRST..end {
            r.ipriorityr[intid as usize].set(DEFAULT_PRIORITY);
        }
        self.wait_rwp();
        r.ctlr.write(
            GICD_CTLR::ARE_NS::SET + GICD_CTLR::EnableGrp1A::SET + GICD_CTLR::EnableGrp1::SET,
        );
        self.wait_rwp();
    }

    /// Lets SPI `intid` be signalled (`GICD_ISENABLER`).
    pub fn enable_spi(&self, intid: u32) {
        if let Some((n, bit)) = self.spi_bit(intid) {
            self.regs().isenabler[n].set(bit);
        }
    }

    /// Stops SPI `intid` being signalled and waits for the write to take effect.
    pub fn disable_spi(&self, intid: u32) {
        if let Some((n, bit)) = self.spi_bit(intid) {
            self.regs().icenabler[n].set(bit);
            self.wait_rwp();
        }
    }

    /// Whether SPI `intid` is enabled.
    pub fn is_enabled(&self, intid: u32) -> bool {
        self.spi_bit(intid)
            .is_some_and(|(n, bit)| self.regs().isenabler[n].get() & bit != 0)
    }

    /// Sets the priority of SPI `intid` (lower is more urgent; unimplemented low bits RAZ).
    pub fn set_priority(&self, intid: u32, priority: u8) {
        if self.spi_bit(intid).is_some() {
            self.regs().ipriorityr[intid as usize].set(priority);
        }
    }

    /// Makes SPI `intid` edge-triggered (`edge`) or level-sensitive. The SPI is disabled
    /// around the change, which IHI 0069 12.9 requires, and re-enabled if it was on.
    pub fn set_config(&self, intid: u32, edge: bool) {
        if self.spi_bit(intid).is_none() {
            return;
        }
        let _guard = self.cfg_lock.lock();
        let was_enabled = self.is_enabled(intid);
        self.disable_spi(intid);
        let reg = &self.regs().icfgr[(intid / 16) as usize];
        let bit = 1 << (2 * (intid % 16) + 1);
        reg.set(if edge {
            reg.get() | bit
        } else {
            reg.get() & !bit
        });
        if was_enabled {
            self.enable_spi(intid);
        }
    }

    /// Routes SPI `intid` to the PE whose `MPIDR_EL1` is `mpidr` (`GICD_IROUTER`, IRM = 0).
    ///
    /// # Safety
    /// Routing decides which physical CPU, hence which partition, takes the interrupt:
    /// `mpidr` must be a CPU of the partition that owns `intid`, or a hypervisor CPU if
    /// the hypervisor keeps it.
    pub unsafe fn route_spi(&self, intid: u32, mpidr: u64) {
        if self.spi_bit(intid).is_some() {
            self.regs().irouter[intid as usize].set(irouter_from_mpidr(mpidr));
        }
    }

    /// The raw `GICD_IROUTER<intid>` value (0 for a non-SPI).
    pub fn route(&self, intid: u32) -> u64 {
        self.spi_bit(intid)
            .map_or(0, |_| self.regs().irouter[intid as usize].get())
    }

    /// Makes SPI `intid` pending (`GICD_ISPENDR`).
    pub fn set_pending(&self, intid: u32) {
        if let Some((n, bit)) = self.spi_bit(intid) {
            self.regs().ispendr[n].set(bit);
        }
    }

    /// Clears the pending state of SPI `intid` (`GICD_ICPENDR`).
    pub fn clear_pending(&self, intid: u32) {
        if let Some((n, bit)) = self.spi_bit(intid) {
            self.regs().icpendr[n].set(bit);
        }
    }

    /// Sets (`GICD_ISACTIVER`) or clears (`GICD_ICACTIVER`) the active state of SPI `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        if let Some((n, bit)) = self.spi_bit(intid) {
            let r = self.regs();
            if active {
                r.isactiver[n].set(bit)
            } else {
                r.icactiver[n].set(bit)
            }
        }
    }

    /// `GICD_ISENABLER<n>`: enable bits of INTIDs 32n..32n+31 (0 for n outside 1..32).
    pub fn enabled_word(&self, n: usize) -> u32 {
        self.state_word(n, |r| &r.isenabler)
    }

    /// `GICD_ISPENDR<n>`: pending bits of INTIDs 32n..32n+31.
    pub fn pending_word(&self, n: usize) -> u32 {
        self.state_word(n, |r| &r.ispendr)
    }

    /// `GICD_ISACTIVER<n>`: active bits of INTIDs 32n..32n+31.
    pub fn active_word(&self, n: usize) -> u32 {
        self.state_word(n, |r| &r.isactiver)
    }

    fn state_word(&self, n: usize, regs: impl Fn(&Gicd) -> &[ReadWrite<u32>; 32]) -> u32 {
        if (1..32).contains(&n) {
            regs(self.regs())[n].get()
        } else {
            0
        }
    }

    fn spi_bit(&self, intid: u32) -> Option<(usize, u32)> {
        debug_assert!(is_spi(intid), "INTID {intid} is not an SPI");
        is_spi(intid).then(|| word_bit(intid))
    }
}

/// One physical CPU's redistributor (RD_base + SGI_base frames).
///
/// Methods taking a PPI INTID ignore (and debug-assert on) INTIDs outside 16..31.
pub struct Redistributor {
    base: usize,
}

impl Redistributor {
    /// Finds the redistributor of the PE with `MPIDR_EL1` value `mpidr` by walking the
    /// frames from `gicr_base` until `GICR_TYPER.Affinity_Value` matches, a frame says
    /// `Last`, a frame lacks a GICv3/v4 `GICR_PIDR2`, or `region_len` is exhausted.
    ///
    /// # Safety
    /// `gicr_base..gicr_base + region_len` must be a redistributor region mapped as Device
    /// memory for the rest of the program.
    pub unsafe fn for_cpu(gicr_base: usize, region_len: usize, mpidr: u64) -> Option<Self> {
        let want = affinity_value(mpidr);
        let mut off = 0;
        while off + GICR_STRIDE <= region_len {
            let frame = Self {
                base: gicr_base + off,
            };
            let r = frame.regs();
            if !matches!(r.pidr2.read(GIC_PIDR2::ArchRev), 3 | 4) {
                return None;
            }
            let typer = r.typer.extract();
            if typer.read(GICR_TYPER::Affinity_Value) as u32 == want {
                return Some(frame);
            }
            if typer.is_set(GICR_TYPER::Last) {
                return None;
            }
            off += if typer.is_set(GICR_TYPER::VLPIS) {
                2 * GICR_STRIDE
            } else {
                GICR_STRIDE
            };
        }
        None
    }

    fn regs(&self) -> &Gicr {
        // SAFETY: `for_cpu`'s contract: `base` lies in a live, mapped GICR region and
        // `for_cpu` only builds frames that fit inside it.
        unsafe { &*(self.base as *const Gicr) }
    }

    /// The address of this redistributor's RD_base frame.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Raw `GICR_TYPER`.
    pub fn typer(&self) -> u64 {
        self.regs().typer.get()
    }

    /// Clears `GICR_WAKER.ProcessorSleep` and waits for `ChildrenAsleep` to clear, so the
    /// redistributor forwards interrupts to its PE (IHI 0069 12.11).
    pub fn wake(&self) {
        let r = self.regs();
        r.waker.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        while r.waker.is_set(GICR_WAKER::ChildrenAsleep) {
            spin_loop();
        }
    }

    /// Waits until `GICR_CTLR.RWP` clears (after `GICR_ICENABLER0` writes).
    pub fn wait_rwp(&self) {
        while self.regs().ctlr.is_set(GICR_CTLR::RWP) {
            spin_loop();
        }
    }

    /// Makes SGIs and PPIs Non-secure Group 1 with [`DEFAULT_PRIORITY`], disables and
    /// clears every PPI and enables every SGI (the hypervisor's inter-CPU kicks).
    pub fn init(&self) {
        let r = self.regs();
        r.icenabler0.set(0xffff_0000);
        self.wait_rwp();
        r.icpendr0.set(!0);
        r.icactiver0.set(!0);
        r.igroupr0.set(!0);
        r.igrpmodr0.set(0);
        for p in r.ipriorityr.iter() {
            p.set(DEFAULT_PRIORITY);
        }
        r.isenabler0.set(0x0000_ffff);
    }

    /// Enables PPI `intid` (16..31).
    pub fn enable_ppi(&self, intid: u32) {
        if let Some(bit) = ppi_bit(intid) {
            self.regs().isenabler0.set(bit);
        }
    }

    /// Disables PPI `intid` and waits for the write to take effect.
    pub fn disable_ppi(&self, intid: u32) {
        if let Some(bit) = ppi_bit(intid) {
            self.regs().icenabler0.set(bit);
            self.wait_rwp();
        }
    }

    /// Sets the priority of PPI `intid`.
    pub fn set_ppi_priority(&self, intid: u32, priority: u8) {
        if ppi_bit(intid).is_some() {
            self.regs().ipriorityr[intid as usize].set(priority);
        }
    }

    /// Sets (`GICR_ISPENDR0`) or clears (`GICR_ICPENDR0`) the pending state of PPI `intid`.
    pub fn set_ppi_pending(&self, intid: u32, pending: bool) {
        if let Some(bit) = ppi_bit(intid) {
            let r = self.regs();
            if pending {
                r.ispendr0.set(bit)
            } else {
                r.icpendr0.set(bit)
            }
        }
    }

    /// Sets (`GICR_ISACTIVER0`) or clears (`GICR_ICACTIVER0`) the active state of PPI `intid`.
    pub fn set_ppi_active(&self, intid: u32, active: bool) {
        if let Some(bit) = ppi_bit(intid) {
            let r = self.regs();
            if active {
                r.isactiver0.set(bit)
            } else {
                r.icactiver0.set(bit)
            }
        }
    }

    /// `GICR_ISENABLER0`: enable bits of SGIs and PPIs (bit n = INTID n).
    pub fn enabled(&self) -> u32 {
        self.regs().isenabler0.get()
    }

    /// `GICR_ISPENDR0`: pending bits of SGIs and PPIs.
    pub fn pending(&self) -> u32 {
        self.regs().ispendr0.get()
    }

    /// `GICR_ISACTIVER0`: active bits of SGIs and PPIs.
    pub fn active(&self) -> u32 {
        self.regs().isactiver0.get()
    }
}

fn ppi_bit(intid: u32) -> Option<u32> {
    debug_assert!((16..32).contains(&intid), "INTID {intid} is not a PPI");
    (16..32).contains(&intid).then(|| 1 << intid)
}

#[cfg(test)]
mod tests;

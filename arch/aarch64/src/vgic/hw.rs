//! The vGIC's hardware side: [`PhysGic`] over the GICv3 drivers, [`ListRegs`] over this
//! CPU's list registers, and the physical CPU interface setup the vGIC relies on.

use aarch64_cpu::asm::barrier;
use bulkhead_drivers::gicv3::{GicDistributor, Redistributor};
use tock_registers::interfaces::{Readable, Writeable};

use super::lr::{ListReg, ListRegs};
use super::phys::PhysGic;
use crate::regs::{
    ich_lr, ICC_CTLR_EL1, ICC_IGRPEN1_EL1, ICC_PMR_EL1, ICC_SRE_EL2, ICH_ELRSR_EL2, ICH_VTR_EL2,
};

/// The physical GIC: the distributor driver plus the redistributor region, whose frame
/// for a CPU is found by walking `GICR_TYPER` (rare: PPI configuration only).
pub struct HwGic {
    dist: GicDistributor,
    gicr_base: usize,
    gicr_len: usize,
}

impl HwGic {
    /// The GIC with distributor `dist` and redistributors at `gicr_base..+gicr_len`.
    ///
    /// # Safety
    /// `gicr_base..gicr_base + gicr_len` must be the redistributor region, mapped as
    /// Device memory for the rest of the program.
    pub const unsafe fn new(dist: GicDistributor, gicr_base: usize, gicr_len: usize) -> Self {
        Self {
            dist,
            gicr_base,
            gicr_len,
        }
    }

    /// The distributor driver.
    pub fn distributor(&self) -> &GicDistributor {
        &self.dist
    }

    /// The redistributor of the CPU with `MPIDR_EL1` value `mpidr`.
    pub fn redistributor(&self, mpidr: u64) -> Option<Redistributor> {
        // SAFETY: `new`'s contract: the region is the mapped redistributor range.
        unsafe { Redistributor::for_cpu(self.gicr_base, self.gicr_len, mpidr) }
    }

    fn with_rd(&self, mpidr: u64, f: impl FnOnce(&Redistributor)) {
        let rd = self.redistributor(mpidr);
        debug_assert!(rd.is_some(), "no redistributor for MPIDR {mpidr:#x}");
        if let Some(rd) = rd {
            f(&rd);
        }
    }
}

impl PhysGic for HwGic {
    fn it_lines(&self) -> u32 {
        self.dist.typer_it_lines()
    }

    fn spi_enable(&self, intid: u32, on: bool) {
        if on {
            self.dist.enable_spi(intid);
        } else {
            self.dist.disable_spi(intid);
        }
    }

    fn spi_set_priority(&self, intid: u32, priority: u8) {
        self.dist.set_priority(intid, priority);
    }

    fn spi_set_config(&self, intid: u32, edge: bool) {
        self.dist.set_config(intid, edge);
    }

    unsafe fn spi_route(&self, intid: u32, pcpu_mpidr: u64) {
        // SAFETY: the trait's contract is `route_spi`'s.
        unsafe { self.dist.route_spi(intid, pcpu_mpidr) };
    }

    fn spi_pending(&self, intid: u32, on: bool) {
        if on {
            self.dist.set_pending(intid);
        } else {
            self.dist.clear_pending(intid);
        }
    }

    fn spi_active(&self, intid: u32, on: bool) {
        self.dist.set_active(intid, on);
    }

    fn spi_pending_word(&self, n: usize) -> u32 {
        self.dist.pending_word(n)
    }

    fn spi_active_word(&self, n: usize) -> u32 {
        self.dist.active_word(n)
    }

    fn ppi_enable(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        self.with_rd(pcpu_mpidr, |rd| {
            if on {
                rd.enable_ppi(intid)
            } else {
                rd.disable_ppi(intid)
            }
        });
    }

    fn ppi_set_priority(&self, pcpu_mpidr: u64, intid: u32, priority: u8) {
        self.with_rd(pcpu_mpidr, |rd| rd.set_ppi_priority(intid, priority));
    }

    fn ppi_pending(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        self.with_rd(pcpu_mpidr, |rd| rd.set_ppi_pending(intid, on));
    }

    fn ppi_active(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        self.with_rd(pcpu_mpidr, |rd| rd.set_ppi_active(intid, on));
    }

    fn ppi_pending_word(&self, pcpu_mpidr: u64) -> u32 {
        self.redistributor(pcpu_mpidr).map_or(0, |rd| rd.pending())
    }

    fn ppi_active_word(&self, pcpu_mpidr: u64) -> u32 {
        self.redistributor(pcpu_mpidr).map_or(0, |rd| rd.active())
    }
}

/// The list registers of the CPU this runs on.
pub struct CpuListRegs {
    count: usize,
}

impl CpuListRegs {
    /// Reads the number of list registers from `ICH_VTR_EL2`.
    pub fn new() -> Self {
        Self {
            count: ICH_VTR_EL2.read(ICH_VTR_EL2::ListRegs) as usize + 1,
        }
    }
}

impl Default for CpuListRegs {
    fn default() -> Self {
        Self::new()
    }
}

impl ListRegs for CpuListRegs {
    fn count(&self) -> usize {
        self.count
    }

    fn empty(&self) -> u16 {
        ICH_ELRSR_EL2.read(ICH_ELRSR_EL2::Status) as u16
    }

    fn read(&self, n: usize) -> ListReg {
        ListReg::from_raw(ich_lr::read(n))
    }

    unsafe fn write(&mut self, n: usize, lr: ListReg) {
        // SAFETY: forwarded from the trait method's contract, which is `ich_lr::write`'s.
        unsafe { ich_lr::write(n, lr.raw()) };
    }
}

/// Sets up this CPU's physical interface the way the vGIC expects: system-register
/// access (`ICC_SRE_EL2.SRE`, and `Enable` so EL1 sees `ICC_SRE_EL1.SRE` = 1), every
/// priority unmasked, split priority drop and deactivation (`EOImode` = 1, so a guest's
/// deactivation of a hardware-mapped interrupt is what deactivates it), Group 1 enabled.
/// The virtual interface (`ICH_HCR_EL2.En`, `ICH_VMCR_EL2`) is per vCPU, set on entry.
pub fn init_cpu_interface() {
    ICC_SRE_EL2.write(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    barrier::isb(barrier::SY);
    ICC_PMR_EL1.write(ICC_PMR_EL1::Priority.val(0xff));
    ICC_CTLR_EL1.write(ICC_CTLR_EL1::EOImode::SET);
    ICC_IGRPEN1_EL1.write(ICC_IGRPEN1_EL1::Enable::SET);
    barrier::isb(barrier::SY);
}

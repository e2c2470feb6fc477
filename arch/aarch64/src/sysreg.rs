//! What a trapped system-register access from a partition is, by its encoding.
//!
//! The runtime traps more than the GIC's registers: PMU (`MDCR_EL2.TPM`/`TPMCR`), the
//! debug OS-lock and power-down registers (`TDOSA`), the debug ROM address (`TDRA`),
//! trace (`CPTR_EL2.TTA`), `ACTLR_EL1` (`HCR_EL2.TACR`), the implementation-defined
//! space (`HCR_EL2.TIDCP`), set/way cache maintenance (`HCR_EL2.TSW`) and, while it
//! tracks a guest's caches after set/way maintenance, writes to the virtual-memory
//! controls (`HCR_EL2.TVM`), and, while level-sensitive interrupts wait to be re-sampled
//! (`vgic::resample`), the Group 1 GIC CPU-interface registers (`ICH_HCR_EL2.TALL1`).
//! This module only classifies (host-tested); `rt` acts.
//!
//! Encodings are Arm ARM D19/D23 ("op0, op1, CRn, CRm, op2"), packed by [`sysreg`].

use crate::esr::{sysreg, SysReg, ICC_SGI1R_EL1};

/// An EL1 virtual-memory control register that `HCR_EL2.TVM` traps writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmReg {
    /// SCTLR_EL1: the one whose caches-on bit the set/way emulation watches.
    Sctlr,
    /// TTBR0_EL1.
    Ttbr0,
    /// TTBR1_EL1.
    Ttbr1,
    /// TCR_EL1.
    Tcr,
    /// ESR_EL1.
    Esr,
    /// FAR_EL1.
    Far,
    /// AFSR0_EL1.
    Afsr0,
    /// AFSR1_EL1.
    Afsr1,
    /// MAIR_EL1.
    Mair,
    /// AMAIR_EL1.
    Amair,
    /// CONTEXTIDR_EL1.
    Contextidr,
}

const VM_REGS: [(u32, VmReg); 11] = [
    (sysreg(3, 0, 1, 0, 0), VmReg::Sctlr),
    (sysreg(3, 0, 2, 0, 0), VmReg::Ttbr0),
    (sysreg(3, 0, 2, 0, 1), VmReg::Ttbr1),
    (sysreg(3, 0, 2, 0, 2), VmReg::Tcr),
    (sysreg(3, 0, 5, 2, 0), VmReg::Esr),
    (sysreg(3, 0, 6, 0, 0), VmReg::Far),
    (sysreg(3, 0, 5, 1, 0), VmReg::Afsr0),
    (sysreg(3, 0, 5, 1, 1), VmReg::Afsr1),
    (sysreg(3, 0, 10, 2, 0), VmReg::Mair),
    (sysreg(3, 0, 10, 3, 0), VmReg::Amair),
    (sysreg(3, 0, 13, 0, 1), VmReg::Contextidr),
];

/// ACTLR_EL1.
const ACTLR_EL1: u32 = sysreg(3, 0, 1, 0, 1);
/// MDRAR_EL1, the debug ROM address (`MDCR_EL2.TDRA`).
const MDRAR_EL1: u32 = sysreg(2, 0, 1, 0, 0);
/// OSLAR_EL1, OSLSR_EL1, OSDLR_EL1, DBGPRCR_EL1 (`MDCR_EL2.TDOSA`).
const OS_LOCK: [u32; 4] = [
    sysreg(2, 0, 1, 0, 4),
    sysreg(2, 0, 1, 1, 4),
    sysreg(2, 0, 1, 3, 4),
    sysreg(2, 0, 1, 4, 4),
];

/// The Group 1 CPU-interface registers `ICH_HCR_EL2.TALL1` traps (IHI 0069 12.2):
/// `ICC_IAR1_EL1`, `ICC_EOIR1_EL1`, `ICC_HPPIR1_EL1`, `ICC_BPR1_EL1`, `ICC_IGRPEN1_EL1`
/// and `ICC_AP1R<n>_EL1`.
fn is_gic_group1(id: u32) -> bool {
    let (icc, op2) = (op0(id) == 3 && op1(id) == 0 && crn(id) == 12, (id >> 17) & 0x7);
    icc && ((crm(id) == 12 && matches!(op2, 0..=3 | 7)) || crm(id) == 9)
}

/// The CRn field of a packed encoding.
const fn crn(id: u32) -> u32 {
    (id >> 10) & 0xf
}

/// The CRm field.
const fn crm(id: u32) -> u32 {
    (id >> 1) & 0xf
}

/// The op0 field.
const fn op0(id: u32) -> u32 {
    id >> 20
}

/// The op1 field.
const fn op1(id: u32) -> u32 {
    (id >> 14) & 0x7
}

/// What to do with a trapped access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `ICC_SGI1R_EL1` write: a virtual SGI.
    Sgi,
    /// `DC ISW`, `DC CSW`, `DC CISW`: set/way cache maintenance.
    SetWay,
    /// A write to a VM control register while `HCR_EL2.TVM` tracks the caches.
    VmWrite(VmReg),
    /// A Group 1 GIC CPU-interface register (`ICC_IAR1_EL1`, …): trapped only while
    /// interrupts wait to be re-sampled; re-sample, then run the access again natively.
    GicGroup1,
    /// PMU (`PMCR_EL0`, counters, `PMUSERENR_EL0`, …), `ACTLR_EL1`, the OS lock and
    /// power-down registers, `MDRAR_EL1`: the partition sees them as RAZ/WI. Its PMU
    /// never counts, so it cannot count the hypervisor's instructions; the others are
    /// kept from changing the CPU's behaviour or power state.
    RazWi,
    /// Everything else that traps (implementation-defined registers, trace, EL2
    /// registers, a read of ICC_SGI1R_EL1): an Undefined Instruction exception.
    Undefined,
}

/// Classifies a trapped MSR/MRS/SYS.
pub fn classify(r: SysReg) -> Access {
    let id = r.id;
    if id == ICC_SGI1R_EL1 {
        return if r.read { Access::Undefined } else { Access::Sgi };
    }
    if is_gic_group1(id) {
        return Access::GicGroup1;
    }
    if op0(id) == 1 {
        // SYS space: with HCR_EL2.TSW only DC ISW / CSW / CISW trap here.
        return Access::SetWay;
    }
    if !r.read {
        if let Some(&(_, reg)) = VM_REGS.iter().find(|(enc, _)| *enc == id) {
            return Access::VmWrite(reg);
        }
    }
    if is_pmu(id) || id == ACTLR_EL1 || id == MDRAR_EL1 || OS_LOCK.contains(&id) {
        return Access::RazWi;
    }
    Access::Undefined
}

/// The PMUv3 registers (Arm ARM D13): `PMCR_EL0`…`PMOVSSET_EL0` (op1 = 3, CRn = 9,
/// CRm = 12..14), `PMINTENSET/CLR_EL1` (op1 = 0, CRn = 9, CRm = 14), the event counters
/// and types and `PMCCFILTR_EL0` (op1 = 3, CRn = 14, CRm = 8..15).
fn is_pmu(id: u32) -> bool {
    op0(id) == 3
        && ((crn(id) == 9 && (12..=14).contains(&crm(id)) && (op1(id) == 3 || op1(id) == 0))
            || (op1(id) == 3 && crn(id) == 14 && crm(id) >= 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: u32) -> SysReg {
        SysReg { id, rt: 0, read: false }
    }

    fn read(id: u32) -> SysReg {
        SysReg { id, rt: 0, read: true }
    }

    #[test]
    fn pmu_registers_are_raz_wi() {
        let pmcr = sysreg(3, 3, 9, 12, 0);
        let pmccntr = sysreg(3, 3, 9, 13, 0);
        let pmuserenr = sysreg(3, 3, 9, 14, 0);
        let pmintenset = sysreg(3, 0, 9, 14, 1);
        let pmevtyper5 = sysreg(3, 3, 14, 12, 5);
        let pmccfiltr = sysreg(3, 3, 14, 15, 7);
        for id in [pmcr, pmccntr, pmuserenr, pmintenset, pmevtyper5, pmccfiltr] {
            assert_eq!(classify(write(id)), Access::RazWi, "{id:#x}");
            assert_eq!(classify(read(id)), Access::RazWi, "{id:#x}");
        }
    }

    #[test]
    fn impdef_trace_and_unknown_registers_are_undefined() {
        let cpuectlr = sysreg(3, 1, 15, 2, 1); // Cortex-A72 CPUECTLR_EL1
        let l2ctlr = sysreg(3, 1, 11, 0, 2); // Cortex-A72 L2CTLR_EL1
        let trcprgctlr = sysreg(2, 1, 0, 1, 0); // ETM TRCPRGCTLR
        for id in [cpuectlr, l2ctlr, trcprgctlr] {
            assert_eq!(classify(write(id)), Access::Undefined, "{id:#x}");
        }
        assert_eq!(classify(read(ICC_SGI1R_EL1)), Access::Undefined);
    }

    #[test]
    fn vm_controls_are_emulated_writes_and_set_way_is_recognised() {
        assert_eq!(classify(write(sysreg(3, 0, 1, 0, 0))), Access::VmWrite(VmReg::Sctlr));
        assert_eq!(classify(write(sysreg(3, 0, 13, 0, 1))), Access::VmWrite(VmReg::Contextidr));
        assert_eq!(classify(write(sysreg(1, 0, 7, 14, 2))), Access::SetWay); // DC CISW
        assert_eq!(classify(write(ACTLR_EL1)), Access::RazWi);
        assert_eq!(classify(write(OS_LOCK[0])), Access::RazWi);
        assert_eq!(classify(write(ICC_SGI1R_EL1)), Access::Sgi);
    }

    #[test]
    fn group1_cpu_interface_registers_are_recognised() {
        let iar1 = sysreg(3, 0, 12, 12, 0);
        let eoir1 = sysreg(3, 0, 12, 12, 1);
        let hppir1 = sysreg(3, 0, 12, 12, 2);
        let bpr1 = sysreg(3, 0, 12, 12, 3);
        let igrpen1 = sysreg(3, 0, 12, 12, 7);
        let ap1r3 = sysreg(3, 0, 12, 9, 3);
        for id in [iar1, hppir1, bpr1, igrpen1, ap1r3] {
            assert_eq!(classify(read(id)), Access::GicGroup1, "{id:#x}");
        }
        assert_eq!(classify(write(eoir1)), Access::GicGroup1);
        // Common and Group 0 registers are not: ICC_CTLR_EL1, ICC_SRE_EL1, ICC_IAR0_EL1,
        // ICC_AP0R0_EL1, ICC_PMR_EL1.
        let others = [sysreg(3, 0, 12, 12, 4), sysreg(3, 0, 12, 12, 5), sysreg(3, 0, 12, 8, 0), sysreg(3, 0, 12, 8, 4)];
        for id in others.into_iter().chain([sysreg(3, 0, 4, 6, 0)]) {
            assert_ne!(classify(read(id)), Access::GicGroup1, "{id:#x}");
        }
    }
}

//! EL2 control registers that decide isolation, behind `unsafe fn`s (STYLE 7).

use aarch64_cpu::registers::{
    Readable, Writeable, CNTHCTL_EL2, CNTVOFF_EL2, HCR_EL2, MDCR_EL2, MIDR_EL1, VMPIDR_EL2, VTCR_EL2, VTTBR_EL2,
};

/// HCR_EL2 while a partition runs (Arm ARM D17.2.48): stage 2 on (VM), set/way
/// invalidation upgraded to clean+invalidate (SWIO), physical IRQ/FIQ/SError taken to
/// EL2 (IMO/FMO/AMO), EL1 TLB maintenance broadcast inner-shareable (FB, BSU = IS),
/// SMC trapped (TSC), implementation-defined registers trapped (TIDCP), `ACTLR_EL1`
/// trapped (TACR), set/way cache maintenance trapped (TSW), EL1 is AArch64 (RW).
/// `TVM` comes and goes with the set/way emulation (sysreg.rs).
pub const HCR_GUEST: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 9)
    | (1 << 10)
    | (1 << 19)
    | (1 << 20)
    | (1 << 21)
    | (1 << 22)
    | (1 << 31);

/// MDCR_EL2 (Arm ARM D17.2.76): PMU registers trap (TPM, TPMCR) so the partition can
/// neither count the hypervisor's instructions nor reprogram counters; the debug OS
/// lock and power-down registers (TDOSA) and the debug ROM address (TDRA) trap. The
/// breakpoint, watchpoint and single-step registers stay the partition's: debug
/// exceptions target EL1 (TDE = 0), are never generated at EL2, and the partition owns
/// its CPU (they are cleared when a vCPU is reset). HPMN keeps every counter nominally
/// EL1's (all trapped anyway). SPE (TPMS) and trace filtering (TTRF) trap where the
/// CPU has them; writing those bits elsewhere would set RES0 bits.
fn mdcr_guest() -> u64 {
    let dfr0: u64;
    let pmcr: u64;
    // SAFETY: reading ID_AA64DFR0_EL1 and PMCR_EL0 at EL2 has no side effects.
    unsafe { core::arch::asm!("mrs {}, id_aa64dfr0_el1", "mrs {}, pmcr_el0", out(reg) dfr0, out(reg) pmcr) };
    let hpmn = MDCR_EL2::HPMN.val((pmcr >> 11) & 0x1f);
    let mut mdcr = hpmn + MDCR_EL2::TPMCR::SET + MDCR_EL2::TPM::SET + MDCR_EL2::TDOSA::SET + MDCR_EL2::TDRA::SET;
    if (dfr0 >> 32) & 0xf != 0 {
        mdcr += MDCR_EL2::TPMS::SET; // statistical profiling (FEAT_SPE)
    }
    if (dfr0 >> 40) & 0xf != 0 {
        mdcr += MDCR_EL2::TTRF::SET; // trace filter controls (FEAT_TRF)
    }
    mdcr.value
}

/// CNTHCTL_EL2 while a partition runs (Arm ARM D17.2.21, `HCR_EL2.E2H` = 0): EL1 reads
/// the physical counter (EL1PCTEN) and owns the EL1 physical timer (EL1PCEN), as it owns
/// the virtual one. The hypervisor uses no EL1 timer (it has no tick; its own timers
/// would be the EL2 ones), and one vCPU owns its CPU, so both timers pass through
/// untouched; a vCPU reset clears them (vcpu.rs). Once CPUs are time-shared, the
/// scheduler must switch `CNTP_*` with the rest of the EL1 state.
fn cnthctl_guest() -> u64 {
    (CNTHCTL_EL2::EL1PCTEN::SET + CNTHCTL_EL2::EL1PCEN::SET).value
}

/// Makes this CPU run guests under `HCR_EL2 = HCR_GUEST` with the given stage-2 tables.
///
/// # Safety
/// `vttbr` must hold the VMID and root of a stage-2 table that maps only the running
/// partition's memory and devices, and `vtcr` must describe that table's format; any
/// other value lets the guest reach memory it does not own.
pub unsafe fn enter_partition(vttbr: u64, vtcr: u64) {
    VTCR_EL2.set(vtcr);
    VTTBR_EL2.set(vttbr);
    HCR_EL2.set(HCR_GUEST);
    MDCR_EL2.set(mdcr_guest());
    CNTHCTL_EL2.set(cnthctl_guest());
    CNTVOFF_EL2.set(0);
    // SAFETY: an ISB only orders the writes above before any later guest entry.
    unsafe { core::arch::asm!("isb") };
}

/// Sets the MPIDR_EL1 value the guest reads on this CPU, and makes its MIDR_EL1 the
/// physical CPU's (`VPIDR_EL2` resets to an UNKNOWN value; QEMU happens to copy MIDR).
pub fn set_virtual_mpidr(value: u64) {
    VMPIDR_EL2.set(value);
    let midr = MIDR_EL1.get();
    // SAFETY: VPIDR_EL2 only decides what EL1 reads as MIDR_EL1; the real value hides
    // nothing the partition's CPU does not already show in its other ID registers.
    unsafe { core::arch::asm!("msr vpidr_el2, {}", in(reg) midr) };
}

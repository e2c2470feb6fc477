//! `test=evil`: instructions and calls a partition must be able to make without killing
//! itself or the hypervisor, and registers through which it must not reach beyond its
//! partition (PMU, debug power, implementation-defined controls, group-0 and
//! other-security-state SGIs, semihosting).

use core::arch::asm;

use bulkhead_core::hypercall::{pack_bytes, CONSOLE_WRITE, NOT_SUPPORTED, YIELD};

use crate::exceptions::{esr_class, expect_fault, EC_UNKNOWN};
use crate::say;
use crate::smccc::{self, Conduit};

/// Function ids no one implements: plain junk, SMC64 SiP service, our own range + junk.
const JUNK_FIDS: [u32; 3] = [0xdead_beef, 0xC500_0000, 0x8600_1234];
/// Exactly 40 bytes (five registers) so a truncating console prints one whole line.
const OVERSIZED_LINE: &[u8; 40] = b"evil console_write len=1000 -> 40 bytes\n";
/// The length CONSOLE_WRITE is told, far above `CONSOLE_WRITE_MAX`.
const OVERSIZED_LEN: u64 = 1000;

/// Runs every attempt, then reports that the guest survived.
pub fn run() {
    // SAFETY: EL2 registers are UNDEFINED at EL1; the vector skips the instruction.
    must_undef("msr hcr_el2", || unsafe {
        asm!("msr hcr_el2, xzr", options(nostack))
    });
    // SAFETY: as above.
    must_undef("msr vbar_el2", || unsafe {
        asm!("msr vbar_el2, xzr", options(nostack))
    });
    // SAFETY: DC ISW cleans and invalidates one set/way; with the MMU and caches off
    // there is no dirty data to lose.
    either("dc isw", || unsafe {
        asm!("dc isw, xzr", options(nostack))
    });
    for conduit in [Conduit::Smc, Conduit::Hvc] {
        for fid in JUNK_FIDS {
            junk_call(conduit, fid);
        }
    }
    oversized_console_write();
    semihosting();
    pmu_cycle_counter();
    pmu_event_counter();
    actlr();
    debug_power();
    foreign_sgis();
    impdef();
    set_way();
    say!("PASS evil survived");
}

/// What one deliberate attempt came to.
enum Outcome<R> {
    /// It executed (or was emulated) and returned this.
    Ran(R),
    /// It raised an UNDEFINED-instruction exception (EC 0).
    Undef,
    /// It raised another synchronous exception: the ESR.
    Other(u64),
}

fn attempt<R>(f: impl FnOnce() -> R) -> Outcome<R> {
    match expect_fault(f) {
        Ok(r) => Outcome::Ran(r),
        Err(esr) if esr_class(esr) == EC_UNKNOWN => Outcome::Undef,
        Err(esr) => Outcome::Other(esr),
    }
}

/// The attempt must be UNDEFINED: `PASS evil <what> undef`, else `FAIL`.
fn undef_only(what: &str, f: impl FnOnce()) {
    match attempt(f) {
        Outcome::Undef => say!("PASS evil {} undef", what),
        Outcome::Ran(()) => say!("FAIL evil {} executed at EL1", what),
        Outcome::Other(esr) => say!("FAIL evil {} ec={:#x}", what, esr_class(esr)),
    }
}

/// The attempt must execute (be emulated): `PASS evil <what> <done>`, else `FAIL`.
fn must_run(what: &str, done: &str, f: impl FnOnce()) {
    match attempt(f) {
        Outcome::Ran(()) => say!("PASS evil {} {}", what, done),
        Outcome::Undef => say!("FAIL evil {} undef", what),
        Outcome::Other(esr) => say!("FAIL evil {} ec={:#x}", what, esr_class(esr)),
    }
}

/// `HLT #0xF000` is the A64 semihosting call: with semihosting off it is UNDEFINED at
/// EL1 (halting debug is off); executed, it would reach the emulator's host services.
fn semihosting() {
    // SAFETY: expected to be UNDEFINED; were semihosting on, w0 = 0x13 (SYS_ERRNO) only
    // reads the host's errno into x0.
    undef_only("hlt #0xf000", || unsafe {
        asm!("hlt #0xf000", inout("x0") 0x13u64 => _, options(nostack))
    });
}

/// `PMCR_EL0.E` (counters on) and `.C` (reset the cycle counter).
const PMCR_E_C: u64 = (1 << 0) | (1 << 2);
/// `PMCNTENSET_EL0.C`: the cycle counter; bit 0: event counter 0.
const PMCNTEN_C: u64 = 1 << 31;
const PMCNTEN_P0: u64 = 1 << 0;
/// `PMCCFILTR_EL0`/`PMEVTYPER<n>_EL0.NSH`: count at EL2 too.
const PMU_NSH: u64 = 1 << 27;
/// Common event CPU_CYCLES.
const EVENT_CPU_CYCLES: u64 = 0x11;
/// Hypercalls (and loop iterations) between the two counter reads.
const PMU_CALLS: u64 = 1000;

/// Counts the hypervisor: cycle counter on, filtered to count EL2 (NSH), read around a
/// thousand hypercalls. RAZ/WI (it never moves) or UNDEFINED pass; a moving counter fails.
fn pmu_cycle_counter() {
    // SAFETY: PMU set-up of this CPU (trapped by the hypervisor); no memory is touched.
    let setup = attempt(|| unsafe {
        asm!(
            "msr pmccfiltr_el0, {nsh}",
            "msr pmcntenset_el0, {c}",
            "msr pmcr_el0, {e}",
            "isb",
            nsh = in(reg) PMU_NSH,
            c = in(reg) PMCNTEN_C,
            e = in(reg) PMCR_E_C,
            options(nostack)
        )
    });
    // SAFETY: reading PMCCNTR_EL0 has no side effects.
    let read = || attempt(|| unsafe { read_pmccntr() });
    pmu_verdict("pmu cycle counter (pmccfiltr nsh)", setup, read);
}

/// The same with event counter 0 counting CPU_CYCLES with NSH.
fn pmu_event_counter() {
    // SAFETY: as in pmu_cycle_counter.
    let setup = attempt(|| unsafe {
        asm!(
            "msr pmselr_el0, xzr",
            "msr pmevtyper0_el0, {ty}",
            "msr pmcntenset_el0, {p0}",
            "msr pmcr_el0, {e}",
            "isb",
            ty = in(reg) PMU_NSH | EVENT_CPU_CYCLES,
            p0 = in(reg) PMCNTEN_P0,
            e = in(reg) PMCR_E_C,
            options(nostack)
        )
    });
    // SAFETY: reading PMEVCNTR0_EL0 has no side effects.
    let read = || attempt(|| unsafe { read_pmevcntr0() });
    pmu_verdict("pmu event counter 0 (cpu_cycles nsh)", setup, read);
}

/// Reads the counter before and after [`PMU_CALLS`] hypercalls and judges it.
fn pmu_verdict(what: &str, setup: Outcome<()>, mut read: impl FnMut() -> Outcome<u64>) {
    match setup {
        Outcome::Ran(()) => {}
        Outcome::Undef => say!("evil {} set-up undef", what),
        Outcome::Other(esr) => {
            say!("FAIL evil {} set-up ec={:#x}", what, esr_class(esr));
            return;
        }
    }
    let before = read();
    for _ in 0..PMU_CALLS {
        smccc::hypercall(YIELD, [0; 6]);
    }
    let after = read();
    match (before, after) {
        (Outcome::Ran(a), Outcome::Ran(b)) if a == b => {
            say!(
                "PASS evil {} did not count: {} -> {} across {} hypercalls",
                what,
                a,
                b,
                PMU_CALLS
            )
        }
        (Outcome::Ran(a), Outcome::Ran(b)) => say!(
            "FAIL evil {} counted {} -> {} across {} hypercalls",
            what,
            a,
            b,
            PMU_CALLS
        ),
        (Outcome::Undef, Outcome::Undef) => say!("PASS evil {} undef", what),
        _ => say!(
            "FAIL evil {} read neither counts nor undefs consistently",
            what
        ),
    }
}

/// # Safety
/// Reads PMCCNTR_EL0; the caller expects a possible trap.
unsafe fn read_pmccntr() -> u64 {
    let v: u64;
    // SAFETY: forwarded from the caller.
    unsafe { asm!("isb", "mrs {}, pmccntr_el0", out(reg) v, options(nostack)) };
    v
}

/// # Safety
/// Reads PMEVCNTR0_EL0; the caller expects a possible trap.
unsafe fn read_pmevcntr0() -> u64 {
    let v: u64;
    // SAFETY: forwarded from the caller.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) v, options(nostack)) };
    v
}

/// ACTLR_EL1 (implementation-defined CPU controls): a write must not stick.
fn actlr() {
    // SAFETY: ACTLR_EL1 is RAZ/WI (or UNDEFINED) for a partition; natively QEMU's is a
    // dummy.
    let r = attempt(|| unsafe {
        let v: u64;
        asm!(
            "msr actlr_el1, {w}",
            "isb",
            "mrs {v}, actlr_el1",
            w = in(reg) 0xffu64,
            v = out(reg) v,
            options(nostack)
        );
        v
    });
    match r {
        Outcome::Ran(0) => say!("PASS evil actlr_el1 reads 0 after writing 0xff"),
        Outcome::Ran(v) => say!("FAIL evil actlr_el1 reads {:#x} after writing 0xff", v),
        Outcome::Undef => say!("PASS evil actlr_el1 undef"),
        Outcome::Other(esr) => say!("FAIL evil actlr_el1 ec={:#x}", esr_class(esr)),
    }
}

/// The OS lock and OS double lock: writes must be ignored (the guest survives them); the
/// core power-down request may also be UNDEFINED (QEMU 7.2 does not implement
/// DBGPRCR_EL1); the debug ROM address reads 0. One instruction per attempt.
fn debug_power() {
    // SAFETY: OSLAR_EL1 = 1 locks the OS lock: RAZ/WI for a partition.
    must_run("msr oslar_el1 1", "survived", || unsafe {
        asm!("msr oslar_el1, {}", in(reg) 1u64, options(nostack))
    });
    // SAFETY: OSLAR_EL1 = 0 unlocks it.
    must_run("msr oslar_el1 0", "survived", || unsafe {
        asm!("msr oslar_el1, xzr", options(nostack))
    });
    // SAFETY: OSDLR_EL1.DLK = 1 asks for the double lock: RAZ/WI for a partition.
    must_run("msr osdlr_el1 1", "survived", || unsafe {
        asm!("msr osdlr_el1, {}", in(reg) 1u64, options(nostack))
    });
    // SAFETY: OSDLR_EL1 = 0 releases it.
    must_run("msr osdlr_el1 0", "survived", || unsafe {
        asm!("msr osdlr_el1, xzr", options(nostack))
    });
    // SAFETY: DBGPRCR_EL1.CORENPDRQ = 1 asks to keep the core powered: RAZ/WI (or
    // UNDEFINED where the register does not exist).
    survive_or_undef("msr dbgprcr_el1 1", || unsafe {
        asm!("msr dbgprcr_el1, {}", in(reg) 1u64, options(nostack))
    });
    // SAFETY: reading MDRAR_EL1 has no side effects.
    let r = attempt(|| unsafe {
        let v: u64;
        asm!("mrs {}, mdrar_el1", out(reg) v, options(nostack));
        v
    });
    match r {
        Outcome::Ran(0) => say!("PASS evil mdrar_el1 reads 0"),
        Outcome::Ran(v) => say!("FAIL evil mdrar_el1 reads {:#x}", v),
        Outcome::Undef => say!("FAIL evil mdrar_el1 undef"),
        Outcome::Other(esr) => say!("FAIL evil mdrar_el1 ec={:#x}", esr_class(esr)),
    }
}

/// ICC_SGI0R_EL1 / ICC_ASGI1R_EL1 value: SGI 3 to every PE but self (IRM).
const SGI_ALL_BUT_SELF: u64 = (1 << 40) | (3 << 24);

/// Group-0 and other-security-state SGIs: the hypervisor traps and answers UNDEFINED.
fn foreign_sgis() {
    // SAFETY: expected to trap; executed, it sends SGI 3 to the other PEs (whose handlers
    // print `FAIL unexpected interrupt 3`).
    undef_only("msr icc_sgi0r_el1", || unsafe {
        asm!("msr icc_sgi0r_el1, {}", "isb", in(reg) SGI_ALL_BUT_SELF, options(nostack))
    });
    // SAFETY: as above.
    undef_only("msr icc_asgi1r_el1", || unsafe {
        asm!("msr icc_asgi1r_el1, {}", "isb", in(reg) SGI_ALL_BUT_SELF, options(nostack))
    });
}

/// Cortex-A72 implementation-defined controls (TRM 4.3): CPUECTLR_EL1 (S3_1_C15_C2_1) and
/// L2CTLR_EL1 (S3_1_C11_C0_2). With HCR_EL2.TIDCP they are UNDEFINED; an emulator that
/// does not trap them runs them on dummies. Either passes; the line says which.
fn impdef() {
    // SAFETY: a read of an implementation-defined register (UNDEFINED if trapped).
    let ectlr = attempt(|| unsafe {
        let v: u64;
        asm!("mrs {}, s3_1_c15_c2_1", out(reg) v, options(nostack));
        v
    });
    // SMPEN (bit 6) set is the value a running SMP system has.
    let value = impdef_read("cpuectlr_el1", ectlr).unwrap_or(1 << 6);
    // SAFETY: writes back what was read (or SMPEN): expected UNDEFINED or harmless.
    impdef_write("cpuectlr_el1", || unsafe {
        asm!("msr s3_1_c15_c2_1, {}", "isb", in(reg) value, options(nostack))
    });
    // SAFETY: as above, L2CTLR_EL1.
    let l2 = attempt(|| unsafe {
        let v: u64;
        asm!("mrs {}, s3_1_c11_c0_2", out(reg) v, options(nostack));
        v
    });
    let value = impdef_read("l2ctlr_el1", l2).unwrap_or(0);
    // SAFETY: as above.
    impdef_write("l2ctlr_el1", || unsafe {
        asm!("msr s3_1_c11_c0_2, {}", "isb", in(reg) value, options(nostack))
    });
}

fn impdef_read(what: &str, r: Outcome<u64>) -> Option<u64> {
    match r {
        Outcome::Ran(v) => {
            say!("PASS evil mrs {} executed: {:#x}", what, v);
            Some(v)
        }
        Outcome::Undef => {
            say!("PASS evil mrs {} undef", what);
            None
        }
        Outcome::Other(esr) => {
            say!("FAIL evil mrs {} ec={:#x}", what, esr_class(esr));
            None
        }
    }
}

fn impdef_write(what: &str, f: impl FnOnce()) {
    survive_or_undef(Msr(what), f)
}

/// `msr <register>` for [`survive_or_undef`]'s lines.
struct Msr<'a>(&'a str);

impl core::fmt::Display for Msr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "msr {}", self.0)
    }
}

/// Either outcome passes, and the line says which: executed (not trapped, or emulated
/// as RAZ/WI) or UNDEFINED (trapped and refused, or not implemented).
fn survive_or_undef(what: impl core::fmt::Display, f: impl FnOnce()) {
    match attempt(f) {
        Outcome::Ran(()) => say!("PASS evil {} executed", what),
        Outcome::Undef => say!("PASS evil {} undef", what),
        Outcome::Other(esr) => say!("FAIL evil {} ec={:#x}", what, esr_class(esr)),
    }
}

/// DC CISW and DC CSW: the hypervisor emulates set/way maintenance; both return.
fn set_way() {
    // SAFETY: set/way clean (and invalidate) of set 0 way 0 level 1: with the MMU and
    // caches off no dirty data is lost.
    must_run("dc cisw", "returned", || unsafe {
        asm!("dc cisw, xzr", options(nostack))
    });
    // SAFETY: as above, clean only.
    must_run("dc csw", "returned", || unsafe {
        asm!("dc csw, xzr", options(nostack))
    });
}

/// The attempt must raise an UNDEFINED-instruction exception in the guest.
fn must_undef(what: &str, attempt: impl FnOnce()) {
    match expect_fault(attempt) {
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {}", what),
        Err(esr) => say!("caught ec={:#x} {}", esr_class(esr), what),
        Ok(()) => say!("FAIL evil {} executed at EL1", what),
    }
}

/// The attempt may execute, be emulated, or raise an exception.
fn either(what: &str, attempt: impl FnOnce()) {
    match expect_fault(attempt) {
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {}", what),
        Err(esr) => say!("caught ec={:#x} {}", esr_class(esr), what),
        Ok(()) => say!("{} returned", what),
    }
}

/// A junk function id must come back NOT_SUPPORTED (or UNDEFINED without a handler).
fn junk_call(conduit: Conduit, fid: u32) {
    let name = conduit.name();
    match expect_fault(|| smccc::call(conduit, fid, [0; 6])[0]) {
        Ok(x0) if smccc::status(x0, fid) == NOT_SUPPORTED => {
            say!("PASS evil {} {:#x} not supported", name, fid)
        }
        Ok(x0) => say!(
            "FAIL evil {} {:#x} returned {}",
            name,
            fid,
            smccc::status(x0, fid)
        ),
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {} {:#x}", name, fid),
        Err(esr) => say!("caught ec={:#x} {} {:#x}", esr_class(esr), name, fid),
    }
}

/// CONSOLE_WRITE claiming 1000 bytes: the hypervisor truncates or refuses.
fn oversized_console_write() {
    let mut regs = [0u64; 5];
    pack_bytes(OVERSIZED_LINE, &mut regs);
    let args = [OVERSIZED_LEN, regs[0], regs[1], regs[2], regs[3], regs[4]];
    match expect_fault(|| smccc::hypercall(CONSOLE_WRITE, args)[0]) {
        Ok(x0) => say!(
            "evil console_write len={} returned {}",
            OVERSIZED_LEN,
            smccc::status(x0, CONSOLE_WRITE)
        ),
        Err(esr) => say!(
            "caught ec={:#x} console_write len={}",
            esr_class(esr),
            OVERSIZED_LEN
        ),
    }
}

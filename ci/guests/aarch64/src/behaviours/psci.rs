//! `test=psci`: the PSCI 1.1 a partition is promised (doc/partition-view.md): the
//! version, PSCI_FEATURES of every function, CPU_SUSPEND as a wait for an interrupt,
//! SYSTEM_RESET2's refusals, and last a SYSTEM_RESET2 warm reset, which restarts the
//! partition (and with it this test).

use core::arch::asm;

use crate::args::Args;
use crate::platform::Platform;
use crate::smccc::{self, Conduit};
use crate::{say, timer};

const PSCI_VERSION: u32 = 0x8400_0000;
const CPU_SUSPEND_32: u32 = 0x8400_0001;
const CPU_SUSPEND_64: u32 = 0xC400_0001;
const CPU_OFF: u32 = 0x8400_0002;
const CPU_ON_32: u32 = 0x8400_0003;
const CPU_ON_64: u32 = 0xC400_0003;
const AFFINITY_INFO_32: u32 = 0x8400_0004;
const AFFINITY_INFO_64: u32 = 0xC400_0004;
const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
const SYSTEM_OFF: u32 = 0x8400_0008;
const SYSTEM_RESET: u32 = 0x8400_0009;
const PSCI_FEATURES: u32 = 0x8400_000A;
const SYSTEM_RESET2_32: u32 = 0x8400_0012;
const SYSTEM_RESET2_64: u32 = 0xC400_0012;
const SMCCC_VERSION: u32 = 0x8000_0000;
const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// SMCCC_ARCH_WORKAROUND_1: no firmware mitigation call is offered.
const ARCH_WORKAROUND_1: u64 = 0x8000_8000;

/// Mandatory in PSCI 1.1 (DEN0022 table 5.1), so PSCI_FEATURES must know them.
const MANDATORY: [u32; 11] = [
    PSCI_VERSION,
    CPU_SUSPEND_32,
    CPU_SUSPEND_64,
    CPU_OFF,
    CPU_ON_32,
    CPU_ON_64,
    AFFINITY_INFO_32,
    AFFINITY_INFO_64,
    SYSTEM_OFF,
    SYSTEM_RESET,
    PSCI_FEATURES,
];
/// The optional ones Bulkhead implements (QEMU 7.2's firmware has none of them but
/// MIGRATE_INFO_TYPE, and speaks SMCCC 1.0).
const OPTIONAL: [u32; 4] = [
    MIGRATE_INFO_TYPE,
    SYSTEM_RESET2_32,
    SYSTEM_RESET2_64,
    SMCCC_VERSION,
];
/// Optional ones it does not: MIGRATE, CPU_FREEZE, SYSTEM_SUSPEND, MEM_PROTECT.
const ABSENT: [u32; 4] = [0xC400_0005, 0x8400_000B, 0xC400_000E, 0x8400_0013];

const NOT_SUPPORTED: i64 = -1;
const INVALID_PARAMETERS: i64 = -2;
/// `CNTx_CTL_EL0.ISTATUS`: the timer condition is met.
const CTL_ISTATUS: u64 = 1 << 2;

/// Runs the checks, then resets the partition with SYSTEM_RESET2 after `reset_after` beats.
pub fn run(plat: &Platform, args: &Args) {
    let c = plat.psci;
    expect(
        "psci version 1.1",
        smccc::psci(c, PSCI_VERSION, 0, 0, 0),
        0x1_0001,
    );
    features(plat);
    suspend(c);
    if !plat.native {
        let smccc = smccc::psci(c, SMCCC_VERSION, 0, 0, 0);
        let workaround = status(c, SMCCC_ARCH_FEATURES, ARCH_WORKAROUND_1);
        expect(
            "smccc arch_features",
            status(c, SMCCC_ARCH_FEATURES, u64::from(SMCCC_VERSION)),
            0,
        );
        say!("smccc version {:#x} workaround_1 {}", smccc, workaround);
        expect(
            "system_reset2 type 1 invalid",
            smccc::psci(c, SYSTEM_RESET2_64, 1, 0, 0),
            INVALID_PARAMETERS,
        );
        expect(
            "system_reset2 vendor type not supported",
            smccc::psci(c, SYSTEM_RESET2_32, 1 << 31, 0, 0),
            NOT_SUPPORTED,
        );
    }
    timer::wait_beats(args.reset_after);
    say!("calling system_reset2");
    let r = smccc::psci(c, SYSTEM_RESET2_64, 0, 0, 0);
    say!("FAIL system_reset2 returned {}", r);
}

fn status(c: Conduit, fid: u32, a1: u64) -> i64 {
    smccc::psci(c, fid, a1, 0, 0)
}

fn expect(what: &str, got: i64, want: i64) {
    if got == want {
        say!("PASS {}", what);
    } else {
        say!("FAIL {}: {} (expected {})", what, got, want);
    }
}

/// PSCI_FEATURES: 0 (for CPU_SUSPEND: original power_state format, no OS-initiated
/// mode) for what is there, NOT_SUPPORTED for what is not.
fn features(plat: &Platform) {
    let optional: &[u32] = if plat.native { &[] } else { &OPTIONAL };
    let mut ok = true;
    for &f in MANDATORY.iter().chain(optional) {
        let r = status(plat.psci, PSCI_FEATURES, u64::from(f));
        if r != 0 {
            say!("FAIL psci features {:#x} returned {}", f, r);
            ok = false;
        }
    }
    for f in ABSENT {
        let r = status(plat.psci, PSCI_FEATURES, u64::from(f));
        if r != NOT_SUPPORTED {
            say!(
                "FAIL psci features {:#x} (not implemented) returned {}",
                f,
                r
            );
            ok = false;
        }
    }
    if ok {
        say!(
            "PASS psci features of {} functions",
            MANDATORY.len() + optional.len() + ABSENT.len()
        );
    }
}

/// CPU_SUSPEND waits for an interrupt like WFI: with IRQs unmasked a heartbeat has been
/// taken when it returns; with IRQs masked the timer's condition holds when it returns.
fn suspend(c: Conduit) {
    let before = timer::beats();
    let r = status(c, CPU_SUSPEND_64, 0);
    let after = timer::beats();
    if r == 0 && after > before {
        say!("PASS cpu_suspend waited for an interrupt");
    } else {
        say!(
            "FAIL cpu_suspend returned {} with beats {} -> {}",
            r,
            before,
            after
        );
    }
    let (r, ctl) = masked(|| status(c, CPU_SUSPEND_32, 0));
    if r == 0 && ctl & CTL_ISTATUS != 0 {
        say!("PASS cpu_suspend masked woke with the timer pending");
    } else {
        say!(
            "FAIL cpu_suspend masked returned {} timer ctl {:#x}",
            r,
            ctl
        );
    }
    expect(
        "cpu_suspend bad power_state refused",
        status(c, CPU_SUSPEND_64, 1 << 20),
        INVALID_PARAMETERS,
    );
}

/// Runs `f` with IRQs masked; returns its result and the heartbeat timer's control
/// register read right after it, before the interrupt is taken.
fn masked(f: impl FnOnce() -> i64) -> (i64, u64) {
    // SAFETY: masks IRQs on this vCPU; unmasked again below.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
    let r = f();
    let ctl: u64;
    // SAFETY: reads the heartbeat timer's control; then unmasks IRQs, which lets the
    // pending heartbeat in.
    unsafe {
        if timer::is_physical() {
            asm!("mrs {}, cntp_ctl_el0", out(reg) ctl, options(nomem, nostack));
        } else {
            asm!("mrs {}, cntv_ctl_el0", out(reg) ctl, options(nomem, nostack));
        }
        asm!("msr daifclr, #2", options(nomem, nostack));
    }
    (r, ctl)
}

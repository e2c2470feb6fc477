//! The measurements: counter-bracketed loops in inline assembly, so that what is
//! counted is exactly the instructions written here plus whatever the platform adds.
//!
//! With QEMU `-icount shift=0` and a 1 GHz counter, one `CNTVCT_EL0` tick is one
//! instruction; an `ISB` before each read keeps the read where it is written.

use core::arch::asm;

use testguest::smccc::PSCI_VERSION;

/// Iterations of each call loop.
pub const CALLS: u64 = 1000;
/// Timer interrupts taken and thrown away before measuring (first-use effects).
pub const TIMER_WARMUP: u64 = 2;
/// Timer interrupts measured.
pub const TIMER_SAMPLES: u64 = 16;
/// How far ahead each timer deadline is set, in counter ticks.
const TIMER_DELAY: u64 = 10_000;
/// The virtual timer's PPI (Arm BSA: INTID 27).
const VTIMER_INTID: u64 = 27;
/// First byte the memory walk reads: 16 MiB into the partition's 64 MiB, clear of the
/// image (at the start) and of the device tree Bulkhead puts in the top 2 MiB.
pub const WALK_BASE: usize = 0x5100_0000;
/// Bytes the walk covers.
pub const WALK_BYTES: usize = 32 << 20;
/// Stride of the walk: one access per 4 KiB page.
pub const WALK_STRIDE: usize = 4096;

/// Which call a loop makes each iteration.
#[derive(Clone, Copy)]
pub enum Call {
    /// No call: the baseline.
    None,
    /// `HVC #0` with PSCI_VERSION.
    Hvc,
    /// `SMC #0` with PSCI_VERSION.
    Smc,
}

/// Counter ticks of [`CALLS`] iterations of `mov x0, #PSCI_VERSION; <call>; subs; b.ne`
/// (without the call for [`Call::None`]); also the last x0 the call returned.
pub fn call_loop(call: Call) -> (u64, u64) {
    let (t0, t1, x0): (u64, u64, u64);
    macro_rules! timed {
        ($insn:literal) => {
            // SAFETY: an SMCCC call of PSCI_VERSION (no side effects; x0–x17 may be
            // written by the callee and are declared clobbered) or no call at all.
            unsafe {
                asm!(
                    "isb",
                    "mrs {t0}, cntvct_el0",
                    "2:",
                    "mov x0, #{fid}",
                    $insn,
                    "subs {n}, {n}, #1",
                    "b.ne 2b",
                    "isb",
                    "mrs {t1}, cntvct_el0",
                    t0 = out(reg) t0,
                    t1 = out(reg) t1,
                    n = inout(reg) CALLS => _,
                    fid = const PSCI_VERSION,
                    out("x0") x0, out("x1") _, out("x2") _, out("x3") _,
                    out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                    out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                    out("x16") _, out("x17") _,
                    options(nostack)
                )
            }
        };
    }
    match call {
        Call::None => timed!(""),
        Call::Hvc => timed!("hvc #0"),
        Call::Smc => timed!("smc #0"),
    }
    (t1 - t0, x0)
}

/// One virtual-timer interrupt: sets `CNTV_CVAL_EL0` [`TIMER_DELAY`] ticks ahead, waits
/// in WFI with IRQs unmasked, and returns the counter the IRQ vector read at its first
/// instruction minus the deadline, or the INTID taken if it was not the timer's.
pub fn timer_latency() -> Result<u64, u64> {
    let (deadline, at_entry, iar): (u64, u64, u64);
    // SAFETY: arms this CPU's EL1 virtual timer and waits for its interrupt; the IRQ
    // vector (entry.rs) writes only x9 and x10, both declared here, and turns the timer
    // off again. The deadline is TIMER_DELAY ticks away, far more than the few
    // instructions before the first WFI, so the interrupt never comes before it.
    unsafe {
        asm!(
            "mov x9, #0",
            "isb",
            "mrs {cval}, cntvct_el0",
            "add {cval}, {cval}, {delay}",
            "msr cntv_cval_el0, {cval}",
            "mov {tmp}, #1",
            "msr cntv_ctl_el0, {tmp}",
            "isb",
            "msr daifclr, #2",
            "2:",
            "wfi",
            "cbz x9, 2b",
            "msr daifset, #2",
            cval = out(reg) deadline,
            delay = in(reg) TIMER_DELAY,
            tmp = out(reg) _,
            out("x9") at_entry,
            out("x10") iar,
            options(nostack)
        )
    };
    match iar & 0xff_ffff {
        VTIMER_INTID => Ok(at_entry - deadline),
        other => Err(other),
    }
}

/// Counter ticks of one load from every 4 KiB page of [`WALK_BYTES`] from [`WALK_BASE`].
pub fn memory_walk() -> u64 {
    let (t0, t1): (u64, u64);
    // SAFETY: reads (and discards) partition RAM the guest owns on either platform:
    // 0x51000000..0x53000000 inside the 64 MiB at 0x50000000, away from its image and DTB.
    unsafe {
        asm!(
            "isb",
            "mrs {t0}, cntvct_el0",
            "2:",
            "ldr {tmp}, [{p}]",
            "add {p}, {p}, {stride}",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            "isb",
            "mrs {t1}, cntvct_el0",
            t0 = out(reg) t0,
            t1 = out(reg) t1,
            p = inout(reg) WALK_BASE => _,
            n = inout(reg) WALK_BYTES / WALK_STRIDE => _,
            stride = in(reg) WALK_STRIDE,
            tmp = out(reg) _,
            options(nostack, readonly)
        )
    };
    t1 - t0
}

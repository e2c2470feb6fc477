//! EL1 timer heartbeat: `hb <n> t=<counter>` every period on vCPU 0, on the virtual timer
//! (`CNTV_*`, PPI 27, counter `CNTVCT_EL0`) or, after [`use_physical`], the physical one
//! (`CNTP_*`, PPI 30, counter `CNTPCT_EL0`).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::say;

/// Heartbeats so far.
static BEATS: AtomicU64 = AtomicU64::new(0);
/// Period in counter ticks; 0 while the heartbeat is off.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The heartbeat runs on the EL1 physical timer.
static PHYSICAL: AtomicBool = AtomicBool::new(false);

/// The virtual timer's PPI (Arm BSA).
pub const VTIMER_INTID: u32 = 27;
/// The EL1 physical timer's PPI (Arm BSA).
pub const PTIMER_INTID: u32 = 30;

/// Makes the heartbeat (and [`now`]) use the EL1 physical timer; call before [`start`].
pub fn use_physical() {
    PHYSICAL.store(true, Ordering::SeqCst);
}

/// Whether the heartbeat runs on the physical timer.
pub fn is_physical() -> bool {
    PHYSICAL.load(Ordering::Relaxed)
}

/// The PPI of the heartbeat's timer.
pub fn intid() -> u32 {
    if is_physical() {
        PTIMER_INTID
    } else {
        VTIMER_INTID
    }
}

/// `CNTP_CTL_EL0`: the physical timer's control (ENABLE, IMASK, ISTATUS).
pub fn physical_ctl() -> u64 {
    let ctl: u64;
    // SAFETY: reads this vCPU's physical-timer control; no side effects.
    unsafe { asm!("mrs {}, cntp_ctl_el0", out(reg) ctl, options(nomem, nostack, preserves_flags)) };
    ctl
}

/// `CNTFRQ_EL0`: counter ticks per second.
pub fn frequency() -> u64 {
    let f: u64;
    // SAFETY: reads CNTFRQ_EL0; no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack, preserves_flags)) };
    f
}

/// The heartbeat timer's counter (`CNTVCT_EL0` or `CNTPCT_EL0`), after an ISB so the read
/// is not hoisted.
pub fn now() -> u64 {
    let t: u64;
    // SAFETY: reads the virtual or the physical counter; no side effects.
    unsafe {
        if is_physical() {
            asm!("isb", "mrs {}, cntpct_el0", out(reg) t, options(nomem, nostack));
        } else {
            asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack));
        }
    }
    t
}

/// Starts the heartbeat with a period of `ms` milliseconds.
pub fn start(ms: u64) {
    let ticks = (frequency() * ms / 1000).max(1);
    PERIOD.store(ticks, Ordering::SeqCst);
    arm(ticks);
}

/// Heartbeats printed so far.
pub fn beats() -> u64 {
    BEATS.load(Ordering::SeqCst)
}

/// Sleeps (WFI) until at least `n` heartbeats have happened.
pub fn wait_beats(n: u64) {
    while beats() < n {
        wfi();
    }
}

/// Timer PPI handler: prints the heartbeat and re-arms.
pub fn on_tick() {
    let period = PERIOD.load(Ordering::SeqCst);
    if period == 0 {
        stop();
        return;
    }
    let t = now();
    let n = BEATS.fetch_add(1, Ordering::SeqCst) + 1;
    say!("hb {} t={}", n, t);
    arm(period);
}

/// Disables this vCPU's heartbeat timer (`CNTV_CTL_EL0` or `CNTP_CTL_EL0` = 0).
pub fn stop() {
    // SAFETY: only this vCPU's EL1 virtual or physical timer is affected.
    unsafe {
        if is_physical() {
            asm!("msr cntp_ctl_el0, xzr", "isb", options(nomem, nostack));
        } else {
            asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack));
        }
    }
}

/// Enables this vCPU's virtual timer with a deadline in the past (`CNTV_CVAL_EL0 = 0`):
/// its interrupt stays asserted until the timer is re-armed or stopped.
pub fn expire_now() {
    // SAFETY: only this vCPU's EL1 virtual timer is affected.
    unsafe {
        asm!(
            "msr cntv_cval_el0, xzr",
            "msr cntv_ctl_el0, {one}",
            "isb",
            one = in(reg) 1u64,
            options(nomem, nostack)
        )
    };
}

fn arm(ticks: u64) {
    // CVAL rather than the 32-bit TVAL: long periods at 1 GHz do not fit in TVAL.
    let deadline = now().wrapping_add(ticks);
    // SAFETY: CNTx_CVAL_EL0 sets the next deadline; CNTx_CTL_EL0 = ENABLE, unmasked.
    unsafe {
        if is_physical() {
            asm!(
                "msr cntp_cval_el0, {t}",
                "msr cntp_ctl_el0, {one}",
                "isb",
                t = in(reg) deadline,
                one = in(reg) 1u64,
                options(nomem, nostack)
            );
        } else {
            asm!(
                "msr cntv_cval_el0, {t}",
                "msr cntv_ctl_el0, {one}",
                "isb",
                t = in(reg) deadline,
                one = in(reg) 1u64,
                options(nomem, nostack)
            );
        }
    }
}

/// Waits for an interrupt.
pub fn wfi() {
    // SAFETY: WFI only suspends until the next interrupt or event.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

//! `test=smp`: PSCI CPU_ON for every own vCPU, AFFINITY_INFO, and foreign ids refused.

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::boot::{secondary_entry_addr, MAX_CPUS};
use crate::platform::Platform;
use crate::smccc::{psci, PSCI_AFFINITY_INFO, PSCI_CPU_ON};
use crate::{say, timer};

/// vCPUs that have run `secondary_up` (vCPU 0 counts from the start).
static UP: AtomicUsize = AtomicUsize::new(1);
/// Seconds of counter time vCPU 0 waits for the secondaries.
const UP_TIMEOUT_S: u64 = 2;
/// Affinity 1 = 1: a cluster no Bulkhead partition or small QEMU has.
const FOREIGN_CLUSTER: u64 = 0x100;

/// Called by each secondary once it is set up: counts it and wakes vCPU 0.
pub fn secondary_up() {
    UP.fetch_add(1, Ordering::SeqCst);
    // SAFETY: DSB orders the count before SEV wakes a WFE waiter.
    unsafe { asm!("dsb ish", "sev", options(nostack)) };
}

/// Starts all own vCPUs, then checks AFFINITY_INFO and that foreign ids are refused.
pub fn run(plat: &Platform) {
    let n = plat.ncpus.min(MAX_CPUS);
    let mut started = 1;
    for cpu in 1..n {
        match psci(
            plat.psci,
            PSCI_CPU_ON,
            plat.mpidr[cpu],
            secondary_entry_addr(),
            cpu as u64,
        ) {
            0 => started += 1,
            r => say!("FAIL cpu_on {} returned {}", cpu, r),
        }
    }
    let up = wait_up(started);
    if started == n && up == n {
        say!("PASS cpu_on own");
    } else {
        say!("FAIL cpu_on own: {} of {} up", up, n);
    }
    affinity_info(plat, n);
    foreign(plat);
}

/// Waits (WFE; IRQs and the secondaries' SEV wake us) until `want` vCPUs are up or the
/// timeout passes; returns how many are up.
fn wait_up(want: usize) -> usize {
    let deadline = timer::now() + UP_TIMEOUT_S * timer::frequency();
    while UP.load(Ordering::SeqCst) < want && timer::now() < deadline {
        // SAFETY: waits for an event: a secondary's SEV or an exception return.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
    UP.load(Ordering::SeqCst)
}

/// Every own vCPU must be reported ON (0).
fn affinity_info(plat: &Platform, n: usize) {
    let mut ok = true;
    for cpu in 0..n {
        let r = psci(plat.psci, PSCI_AFFINITY_INFO, plat.mpidr[cpu], 0, 0);
        if r != 0 {
            say!("FAIL affinity_info cpu {} returned {}", cpu, r);
            ok = false;
        }
    }
    if ok {
        say!("PASS affinity_info");
    }
}

/// CPU_ON for MPIDRs that are not cpu nodes must fail.
fn foreign(plat: &Platform) {
    let own = &plat.mpidr[..plat.ncpus.min(MAX_CPUS)];
    let mut refused = true;
    for target in [plat.ncpus as u64, FOREIGN_CLUSTER] {
        if own.contains(&target) {
            continue;
        }
        // Context MAX_CPUS: should the call wrongly succeed, the start code parks that CPU.
        let r = psci(
            plat.psci,
            PSCI_CPU_ON,
            target,
            secondary_entry_addr(),
            MAX_CPUS as u64,
        );
        say!("cpu_on foreign {:#x} -> {}", target, r);
        if r >= 0 && refused {
            say!("FAIL cpu_on foreign returned {}", r);
            refused = false;
        }
    }
    if refused {
        say!("PASS cpu_on foreign refused");
    }
}

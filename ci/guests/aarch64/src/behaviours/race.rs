//! `test=psci-race rounds=<n>`: vCPUs 0 and 1 race to CPU_ON vCPU 2, `n` times. Each
//! round exactly one call must succeed and the other get ALREADY_ON (-4; ON_PENDING, -5,
//! is what guests written for KVM do not expect), vCPU 2 must start exactly once, and it
//! turns itself off (CPU_OFF) so that the next round can race again. vCPU 1 waits for a
//! round in WFI and vCPU 0 starts it with an SGI (a WFE loop would spin under QEMU).

use core::arch::asm;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};

use crate::boot::secondary_entry_addr;
use crate::platform::Platform;
use crate::smccc::{psci, PSCI_AFFINITY_INFO, PSCI_CPU_ON};
use crate::{gic, say, timer};

/// CPU_OFF.
const PSCI_CPU_OFF: u32 = 0x8400_0002;
/// AFFINITY_INFO: the target is off.
const AFFINITY_OFF: i64 = 1;
const SUCCESS: i64 = 0;
const ALREADY_ON: i64 = -4;
/// Heartbeats a round may take before it counts as lost.
const ROUND_BEATS: u64 = 50;
/// The SGI that starts a round on vCPU 1.
const GO_SGI: u32 = 1;
/// `ICC_SGI1R_EL1` for [`GO_SGI`] to Aff0 = 1 (vCPU 1), IHI 0069 12.2.20.
const GO_SGI1R: u64 = (GO_SGI as u64) << 24 | 1 << 1;

/// The round the racers are to run (0: none yet).
static ROUND: AtomicU64 = AtomicU64::new(0);
/// Each racer's CPU_ON result in the current round (i64::MIN: not yet).
static RESULT: [AtomicI64; 2] = [const { AtomicI64::new(i64::MIN) }; 2];
/// How often vCPU 2 has started.
static STARTS: AtomicU64 = AtomicU64::new(0);

/// vCPU 0: starts racer vCPU 1, then runs the rounds.
pub fn run(plat: &Platform, rounds: u64) {
    if plat.ncpus < 3 {
        say!("FAIL psci-race needs 3 vCPUs, has {}", plat.ncpus);
        return;
    }
    if psci(
        plat.psci,
        PSCI_CPU_ON,
        plat.mpidr[1],
        secondary_entry_addr(),
        1,
    ) != SUCCESS
    {
        say!("FAIL psci-race cannot start racer vCPU 1");
        return;
    }
    let mut ok = true;
    for round in 1..=rounds {
        ok &= race(plat, round);
    }
    if ok {
        say!("PASS psci-race {} rounds", rounds);
    }
}

/// One round; whether it went as it must.
fn race(plat: &Platform, round: u64) -> bool {
    RESULT.iter().for_each(|r| r.store(i64::MIN, SeqCst));
    let deadline = timer::beats() + ROUND_BEATS;
    ROUND.store(round, SeqCst);
    // SAFETY: DSB publishes the round, then the SGI wakes vCPU 1 (its WFI).
    unsafe { asm!("dsb ish", "msr icc_sgi1r_el1, {}", "isb", in(reg) GO_SGI1R, options(nostack)) };
    RESULT[0].store(cpu_on_target(plat), SeqCst);
    while RESULT[1].load(SeqCst) == i64::MIN || STARTS.load(SeqCst) < round {
        if timer::beats() > deadline {
            break;
        }
        timer::wfi();
    }
    // The target turns itself off; the next round needs it off.
    while psci(plat.psci, PSCI_AFFINITY_INFO, plat.mpidr[2], 0, 0) != AFFINITY_OFF
        && timer::beats() <= deadline
    {
        timer::wfi();
    }
    let results = [RESULT[0].load(SeqCst), RESULT[1].load(SeqCst)];
    let starts = STARTS.load(SeqCst);
    say!(
        "psci-race round {}: cpu_on -> {} {} starts={}",
        round,
        results[0],
        results[1],
        starts
    );
    let winners = results.iter().filter(|&&r| r == SUCCESS).count();
    let losers = results.iter().filter(|&&r| r == ALREADY_ON).count();
    if (winners, losers, starts) == (1, 1, round) {
        say!(
            "PASS psci-race round {} one start, the loser already_on",
            round
        );
        true
    } else {
        say!(
            "FAIL psci-race round {}: results {} {} starts {}",
            round,
            results[0],
            results[1],
            starts
        );
        false
    }
}

fn cpu_on_target(plat: &Platform) -> i64 {
    psci(
        plat.psci,
        PSCI_CPU_ON,
        plat.mpidr[2],
        secondary_entry_addr(),
        2,
    )
}

/// A secondary vCPU of this test: 1 races, 2 counts its start and turns itself off.
pub fn secondary(plat: &Platform, cpu: usize) {
    match cpu {
        1 => racer(plat),
        2 => {
            STARTS.fetch_add(1, SeqCst);
            let r = psci(plat.psci, PSCI_CPU_OFF, 0, 0, 0);
            say!("FAIL psci-race cpu_off returned {}", r);
        }
        _ => {}
    }
}

/// vCPU 1: waits (WFI) for each round's SGI and races vCPU 0 to start vCPU 2.
fn racer(plat: &Platform) -> ! {
    gic::set_handler(GO_SGI, |_| {});
    if let Err(why) = gic::enable_private(plat.gicr.0, plat.gicr.1, GO_SGI) {
        say!("FAIL psci-race enable sgi: {}", why);
    }
    let mut done = 0;
    loop {
        while ROUND.load(SeqCst) == done {
            timer::wfi();
        }
        done = ROUND.load(SeqCst);
        RESULT[1].store(cpu_on_target(plat), SeqCst);
    }
}

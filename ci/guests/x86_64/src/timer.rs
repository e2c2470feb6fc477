//! TSC frequency and the heartbeat: `hb <n> t=<TSC>` every period on CPU 0 from the local
//! APIC timer in TSC-deadline mode (one-shot where the CPU has no TSC-deadline timer).
//! Other CPUs run the same timer and only count.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use crate::boot::{cpu_index, MAX_CPUS};
use crate::idt::TIMER_VECTOR;
use crate::{apic, cpu, say};

/// TSC ticks per millisecond (= kHz).
static TSC_KHZ: AtomicU64 = AtomicU64::new(1_000_000);
/// Period in TSC ticks; 0 while the heartbeat is off.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// One-shot fallback: APIC timer ticks (divide by 16) per ms (0: TSC-deadline mode).
static ONE_SHOT: AtomicU64 = AtomicU64::new(0);
/// Heartbeats printed by CPU 0.
static BEATS: AtomicU64 = AtomicU64::new(0);
/// Each CPU's next deadline (TSC).
static DEADLINE: [AtomicU64; MAX_CPUS + 1] = [const { AtomicU64::new(0) }; MAX_CPUS + 1];
/// Timer interrupts taken by each CPU.
static TICKS: [AtomicU64; MAX_CPUS + 1] = [const { AtomicU64::new(0) }; MAX_CPUS + 1];
/// Whether the timer is started (so that APs start theirs too).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Programmable interval timer input clock (Hz).
const PIT_HZ: u64 = 1_193_182;
/// PIT calibration window.
const PIT_MS: u64 = 20;

/// Sets the TSC frequency used from now on.
pub fn set_tsc_khz(khz: u64) {
    TSC_KHZ.store(khz.max(1), SeqCst);
}

/// TSC ticks per millisecond.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(SeqCst)
}

/// The TSC frequency in a partition: CPUID 0x40000001 ECX (kHz, doc/x86.md).
pub fn partition_tsc_khz() -> Option<u64> {
    let k = cpu::cpuid(0x4000_0001, 0)[2];
    (k != 0).then_some(u64::from(k))
}

/// The TSC frequency on a bare machine: a PIT calibration (right under emulators whose
/// TSC does not tick at the nominal rate), else CPUID 0x15, else 0x16.
pub fn native_tsc_khz() -> Option<(u64, &'static str)> {
    if let Some(k) = pit_khz() {
        return Some((k, "pit"));
    }
    let max = cpu::cpuid(0, 0)[0];
    if max >= 0x15 {
        let [den, num, crystal, _] = cpu::cpuid(0x15, 0);
        if den != 0 && num != 0 && crystal != 0 {
            return Some((
                u64::from(crystal) * u64::from(num) / u64::from(den) / 1000,
                "cpuid 0x15",
            ));
        }
    }
    if max >= 0x16 {
        let mhz = cpu::cpuid(0x16, 0)[0] & 0xffff;
        if mhz != 0 {
            return Some((u64::from(mhz) * 1000, "cpuid 0x16"));
        }
    }
    None
}

/// Counts TSC ticks over [`PIT_MS`] of PIT channel 2 (mode 0, gate through port 0x61),
/// the way Linux's `pit_calibrate_tsc` does. Natively only: the ports are not a
/// partition's.
fn pit_khz() -> Option<u64> {
    let latch = PIT_HZ * PIT_MS / 1000;
    let p61 = cpu::inb(0x61);
    cpu::outb(0x61, (p61 & !0x02) | 0x01);
    cpu::outb(0x43, 0xb0);
    cpu::outb(0x42, latch as u8);
    cpu::outb(0x42, (latch >> 8) as u8);
    let t0 = cpu::rdtsc();
    let mut spins = 0u64;
    while cpu::inb(0x61) & 0x20 == 0 {
        spins += 1;
        if spins > 100_000_000 {
            cpu::outb(0x61, p61);
            return None;
        }
    }
    let t1 = cpu::rdtsc();
    cpu::outb(0x61, p61);
    let khz = (t1 - t0) / PIT_MS;
    (spins > 10 && khz > 0).then_some(khz)
}

/// Starts the heartbeat with a period of `ms` milliseconds on this CPU; returns the
/// timer mode's name.
pub fn start(ms: u64) -> &'static str {
    PERIOD.store(tsc_khz() * ms, SeqCst);
    let mode = if apic::has_tsc_deadline() {
        "tsc-deadline"
    } else {
        ONE_SHOT.store(apic::calibrate_timer(tsc_khz()), SeqCst);
        "one-shot"
    };
    RUNNING.store(true, SeqCst);
    start_this_cpu();
    mode
}

/// Starts this CPU's timer with the period [`start`] chose (no-op before that).
pub fn start_this_cpu() {
    let period = PERIOD.load(SeqCst);
    if period == 0 || !RUNNING.load(SeqCst) {
        return;
    }
    if ONE_SHOT.load(SeqCst) == 0 {
        apic::timer_tsc_deadline_mode(TIMER_VECTOR);
    }
    let me = cpu_index();
    DEADLINE[me].store(cpu::rdtsc(), SeqCst);
    arm_next(me, period);
}

/// Timer interrupt: CPU 0 prints the heartbeat; every CPU re-arms.
pub fn on_tick() {
    let period = PERIOD.load(SeqCst);
    if period == 0 {
        apic::timer_stop();
        return;
    }
    let me = cpu_index();
    TICKS[me].fetch_add(1, SeqCst);
    if me == 0 {
        let t = cpu::rdtsc();
        let n = BEATS.fetch_add(1, SeqCst) + 1;
        say!("hb {} t={}", n, t);
    }
    arm_next(me, period);
}

/// Arms CPU `me` for its previous deadline + `period`, which keeps the average period
/// exact (after a stall: now + `period`). One-shot mode converts the distance to APIC
/// timer ticks.
fn arm_next(me: usize, period: u64) {
    let now = cpu::rdtsc();
    let mut next = DEADLINE[me].load(SeqCst) + period;
    if next <= now {
        next = now + period;
    }
    DEADLINE[me].store(next, SeqCst);
    match ONE_SHOT.load(SeqCst) {
        0 => apic::set_deadline(next),
        per_ms => {
            let count = (next - now) * per_ms / tsc_khz();
            apic::timer_one_shot(TIMER_VECTOR, count.min(u64::from(u32::MAX)) as u32)
        }
    }
}

/// Heartbeats printed so far.
pub fn beats() -> u64 {
    BEATS.load(SeqCst)
}

/// Sleeps (HLT, interrupts on) until at least `n` heartbeats have happened.
pub fn wait_beats(n: u64) {
    loop {
        // Check with interrupts off, then STI; HLT: a beat cannot slip in between.
        cpu::irqs_off();
        if beats() >= n {
            break;
        }
        cpu::sti_hlt();
    }
    cpu::sti();
}

/// Busy-waits `ms` milliseconds of TSC time (interrupts as they are).
pub fn delay_ms(ms: u64) {
    let t0 = cpu::rdtsc();
    let ticks = tsc_khz() * ms;
    while cpu::rdtsc().wrapping_sub(t0) < ticks {
        cpu::pause();
    }
}

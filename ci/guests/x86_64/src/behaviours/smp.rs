//! `test=smp`: INIT-SIPI-SIPI (SDM Vol. 3A, 9.4.4.1) to every other CPU the MADT lists,
//! then to APIC ids it does not list, which must not start anything.

use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use crate::apic::{self, ICR_INIT, ICR_SIPI};
use crate::boot::{self, MAX_CPUS};
use crate::platform::Platform;
use crate::{cpu, say, timer};

/// CPUs that have reached `ap_up` (CPU 0 counts from the start).
static UP: AtomicUsize = AtomicUsize::new(1);
/// How long one AP may take to come up.
const UP_TIMEOUT_MS: u64 = 2000;
/// How long a wrongly started foreign CPU gets to show itself.
const FOREIGN_WAIT_MS: u64 = 300;
/// An APIC id no small machine or partition has.
const FOREIGN_HIGH: u32 = 0x80;

/// Called by each AP once it is set up (and by a foreign one, were it ever started).
pub fn ap_up() {
    UP.fetch_add(1, SeqCst);
}

/// Starts the MADT's other CPUs one by one, then checks that foreign ids stay down.
pub fn run(plat: &Platform) {
    let n = plat.cpus();
    let vector = boot::install_trampoline();
    for i in 1..n {
        let before = UP.load(SeqCst);
        boot::prepare_ap(i);
        start(plat.apic_ids[i], vector);
        if !wait_up(before + 1, UP_TIMEOUT_MS) {
            // It may still wake on the stack we gave it: start no one else.
            say!(
                "FAIL cpu {} (apic id {}) did not come up",
                i,
                plat.apic_ids[i]
            );
            break;
        }
    }
    let up = UP.load(SeqCst);
    if up == n {
        say!("PASS cpu_on own");
    } else {
        say!("FAIL cpu_on own: {} of {} up", up, n);
    }
    foreign(plat, vector);
}

/// INIT, 10 ms, SIPI, SIPI (a CPU already running ignores the second).
fn start(apic_id: u32, vector: u8) {
    apic::send_ipi(apic_id, ICR_INIT);
    timer::delay_ms(10);
    for _ in 0..2 {
        apic::send_ipi(apic_id, ICR_SIPI | u32::from(vector));
        timer::delay_ms(1);
    }
}

/// Waits (interrupts on) until `want` CPUs are up or `ms` pass.
fn wait_up(want: usize, ms: u64) -> bool {
    let t0 = cpu::rdtsc();
    let limit = ms * timer::tsc_khz();
    while UP.load(SeqCst) < want && cpu::rdtsc() - t0 < limit {
        cpu::pause();
    }
    UP.load(SeqCst) >= want
}

/// INIT-SIPI-SIPI to ids the MADT does not list; any CPU they start would run the spare
/// stack block and report `FAIL foreign cpu came up`.
fn foreign(plat: &Platform, vector: u8) {
    let own = &plat.apic_ids[..plat.cpus()];
    let n = plat.ncpus as u32;
    let before = UP.load(SeqCst);
    boot::prepare_ap(MAX_CPUS);
    let mut sent = [u32::MAX; 3];
    for (k, target) in [n, n + 1, FOREIGN_HIGH].into_iter().enumerate() {
        // 0xff is the xAPIC broadcast id: never a "foreign" target.
        let broadcast = !apic::is_x2apic() && target >= 0xff;
        if own.contains(&target) || sent.contains(&target) || broadcast {
            continue;
        }
        sent[k] = target;
        start(target, vector);
        say!("cpu_on foreign {:#x} sent", target);
    }
    timer::delay_ms(FOREIGN_WAIT_MS);
    let extra = UP.load(SeqCst) - before;
    if extra == 0 {
        say!("PASS cpu_on foreign refused");
    } else {
        say!("FAIL cpu_on foreign: {} cpu(s) came up", extra);
    }
}

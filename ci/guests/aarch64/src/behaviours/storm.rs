//! `test=timer-storm every=<n>`: the virtual timer's handler never re-arms or clears the
//! timer (deadline 0, enabled, unmasked), so its interrupt is asserted again the moment
//! the guest ends it: an interrupt storm on this CPU. The heartbeat of this partition
//! stops; the handler prints `storm <k>` after every `n` interrupts.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::args::Args;
use crate::gic::{self, VTIMER_INTID};
use crate::{say, timer};

/// Timer interrupts taken since the storm began.
static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Interrupts per `storm <k>` line.
static EVERY: AtomicU64 = AtomicU64::new(1);

fn on_storm(_intid: u32) {
    let every = EVERY.load(Ordering::Relaxed);
    let k = TAKEN.fetch_add(1, Ordering::Relaxed) + 1;
    if k.is_multiple_of(every) {
        say!("storm {}", k / every);
    }
}

/// After `after` heartbeats, swaps the heartbeat for the storm handler and fires the timer.
pub fn run(args: &Args) {
    timer::wait_beats(args.after);
    EVERY.store(args.every, Ordering::Relaxed);
    say!("timer-storm every={}", args.every);
    gic::set_handler(VTIMER_INTID, on_storm);
    timer::expire_now();
}

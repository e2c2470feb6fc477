//! `test=level-irq events=<n>`: a level-sensitive device, the PL031 RTC, passed through,
//! driven in both EOI orders; every device event must be taken exactly once.
//!
//! An event is the RTC's match interrupt: writing the current count to `RTCMR` raises it
//! at once (QEMU's PL031), and it stays asserted until `RTCICR` clears it. The handler
//! either clears the device and then ends the interrupt (`clear-first`), or ends it first
//! and then clears the device (`eoi-first`, the order that makes a re-latched interrupt
//! on a hypervisor that does not re-sample the line). Odd events are raised with IRQs
//! masked, so the interrupt waits for the guest; even ones with IRQs open.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use crate::platform::Platform;
use crate::{gic, say, timer};

const RTCDR: usize = 0x00;
const RTCMR: usize = 0x04;
const RTCIMSC: usize = 0x10;
const RTCRIS: usize = 0x14;
const RTCMIS: usize = 0x18;
const RTCICR: usize = 0x1c;
/// Heartbeats an event may take to be handled.
const EVENT_BEATS: u64 = 20;
/// Heartbeats to wait after an event for a second (wrong) interrupt.
const SETTLE_BEATS: u64 = 2;

static RTC: AtomicU64 = AtomicU64::new(0);
/// The handler ends the interrupt before it clears the device.
static EOI_FIRST: AtomicBool = AtomicBool::new(false);
/// Interrupts taken from the RTC.
static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Of those, how many found the device with nothing pending.
static EMPTY: AtomicU64 = AtomicU64::new(0);

fn on_rtc(_intid: u32, iar: u64) {
    let rtc = RTC.load(SeqCst) as usize;
    TAKEN.fetch_add(1, SeqCst);
    if read(rtc + RTCMIS) == 0 {
        EMPTY.fetch_add(1, SeqCst);
    }
    if EOI_FIRST.load(SeqCst) {
        gic::end(iar);
        write(rtc + RTCICR, 1);
    } else {
        write(rtc + RTCICR, 1);
        gic::end(iar);
    }
}

/// Runs `events` events in each order.
pub fn run(plat: &Platform, events: u64) {
    let Some((rtc, intid)) = plat.rtc else {
        say!("FAIL level-irq: no arm,pl031 in the device tree");
        return;
    };
    RTC.store(rtc as u64, SeqCst);
    gic::set_spi_handler(on_rtc);
    gic::enable_spi(plat.gicd, intid);
    write(rtc + RTCICR, 1);
    write(rtc + RTCIMSC, 1);
    say!("level-irq rtc {:#x} intid {}", rtc, intid);
    for (order, eoi_first) in [("clear-first", false), ("eoi-first", true)] {
        EOI_FIRST.store(eoi_first, SeqCst);
        let spurious = gic::spurious();
        let good = (1..=events).filter(|&k| event(rtc, order, k)).count() as u64;
        say!(
            "level-irq {} spurious acknowledges {}",
            order,
            gic::spurious() - spurious
        );
        if good == events {
            say!(
                "PASS level-irq {} {} events, one interrupt each",
                order,
                events
            );
        }
    }
}

/// Raises event `k` and checks it is taken once; whether it was.
fn event(rtc: usize, order: &str, k: u64) -> bool {
    let (taken, empty) = (TAKEN.load(SeqCst), EMPTY.load(SeqCst));
    let masked = k % 2 == 1;
    if masked {
        // SAFETY: masks IRQs on this vCPU; unmasked below once the device has fired.
        unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
    }
    let raised = raise(rtc, taken);
    if masked {
        // SAFETY: a few instructions for the line to reach the GIC, then IRQs open again.
        unsafe {
            asm!(
                "isb",
                "dsb sy",
                "isb",
                "msr daifclr, #2",
                options(nomem, nostack)
            )
        };
    }
    if !raised {
        say!(
            "FAIL level-irq {} event {}: the RTC did not raise its interrupt",
            order,
            k
        );
        return false;
    }
    let deadline = timer::beats() + EVENT_BEATS;
    while TAKEN.load(SeqCst) == taken && timer::beats() < deadline {
        timer::wfi();
    }
    timer::wait_beats(timer::beats() + SETTLE_BEATS);
    let (n, nothing) = (TAKEN.load(SeqCst) - taken, EMPTY.load(SeqCst) - empty);
    let how = if masked { "masked" } else { "open" };
    if n == 1 && nothing == 0 {
        say!("level-irq {} event {} ({}): interrupts 1", order, k, how);
        true
    } else {
        say!(
            "FAIL level-irq {} event {} ({}): interrupts {}, {} with nothing pending",
            order,
            k,
            how,
            n,
            nothing
        );
        false
    }
}

/// Raises the match interrupt: `RTCMR` = the current count. A second boundary between
/// the read and the write would put the match a whole wrap away: try again then. Raised
/// means pending at the device, or already taken (IRQs open) since `taken` was counted.
fn raise(rtc: usize, taken: u64) -> bool {
    (0..3).any(|_| {
        write(rtc + RTCMR, read(rtc + RTCDR));
        read(rtc + RTCRIS) & 1 != 0 || TAKEN.load(SeqCst) != taken
    })
}

fn read(addr: usize) -> u32 {
    // SAFETY: a PL031 register of the RTC the device tree gave this guest.
    unsafe { crate::mmio::read32(addr) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { crate::mmio::write32(addr, value) }
}

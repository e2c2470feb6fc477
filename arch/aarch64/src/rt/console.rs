//! The hypervisor console: one UART shared by defmt log frames and partition lines.
//!
//! A single spin lock serialises whole log frames and whole console lines, so the
//! output of several CPUs never interleaves inside a line or a frame. Frames are
//! written as 0x01 followed by the rzcobs-encoded frame (which ends with 0x00); the
//! host CLI decodes them against the hypervisor ELF (doc/logging.md).

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bulkhead_core::log;
use bulkhead_core::vdev::ConsoleSink;
use bulkhead_drivers::pl011::Pl011;

static UART_BASE: AtomicUsize = AtomicUsize::new(0);
/// The console lock, the one lock partitions on different CPUs share at run time.
static LOCK: EventLock = EventLock::new();

/// A lock whose waiters sleep in WFE and whose release wakes them with SEV: the
/// architecture's way to wait for another CPU (a spinning waiter would burn its CPU, and
/// under QEMU's round-robin icount it starves the very CPU that holds the lock).
struct EventLock(AtomicBool);

impl EventLock {
    const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    fn acquire(&self) {
        while self.0.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            // SAFETY: WFE only waits for an event; `release` sends one.
            unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
        }
    }

    fn release(&self) {
        self.0.store(false, Ordering::Release);
        // SAFETY: DSB orders the store before SEV wakes the waiters.
        unsafe { core::arch::asm!("dsb ish", "sev", options(nostack)) };
    }

    fn hold(&self) -> Held<'_> {
        self.acquire();
        Held(self)
    }
}

/// The console lock, released when dropped.
struct Held<'a>(&'a EventLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Directs console output to the PL011 at `base` (an identity-mapped address).
pub fn init(base: usize) {
    UART_BASE.store(base, Ordering::Release);
}

fn put_bytes(bytes: &[u8]) {
    let base = UART_BASE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    // SAFETY: `base` was set by `init` from the platform description of the console
    // UART, which the hypervisor owns exclusively and maps as device memory.
    let uart = unsafe { Pl011::new(base) };
    for &b in bytes {
        uart.putc(b);
    }
}

/// Writes a line of plain text (a banner or a last-resort message) under the lock.
pub fn write_line(text: &str) {
    let _guard = LOCK.hold();
    put_bytes(text.as_bytes());
    put_bytes(b"\n");
}

/// Partition console lines: `[name] text`.
pub struct Sink;

impl ConsoleSink for Sink {
    fn line(&self, name: &str, line: &[u8]) {
        let _guard = LOCK.hold();
        log::partition_line(name, line, put_bytes);
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` takes the console lock and keeps it until `release`; every CPU runs
// EL2 code with interrupts masked, so no frame is re-entered on the same CPU.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        LOCK.acquire();
        log::start_frame(put_bytes);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        log::end_frame(put_bytes);
        LOCK.release();
    }

    unsafe fn write(bytes: &[u8]) {
        log::write_frame(bytes, put_bytes);
    }
}

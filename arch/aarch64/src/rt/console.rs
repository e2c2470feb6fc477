//! The hypervisor console: one UART shared by defmt log frames and partition lines.
//!
//! A single spin lock serialises whole log frames and whole console lines, so the
//! output of several CPUs never interleaves inside a line or a frame. Frames are
//! written as 0x01 followed by the rzcobs-encoded frame (which ends with 0x00); the
//! host CLI decodes them against the hypervisor ELF (doc/logging.md).

use core::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_core::vdev::ConsoleSink;
use bulkhead_drivers::pl011::Pl011;
use spin::Mutex;

/// Start-of-frame marker before each defmt frame.
const FRAME_START: u8 = 0x01;

static UART_BASE: AtomicUsize = AtomicUsize::new(0);
static LOCK: Mutex<()> = Mutex::new(());

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
    let _guard = LOCK.lock();
    put_bytes(text.as_bytes());
    put_bytes(b"\n");
}

/// Partition console lines: `[name] text`.
pub struct Sink;

impl ConsoleSink for Sink {
    fn line(&self, name: &str, line: &[u8]) {
        let _guard = LOCK.lock();
        put_bytes(b"[");
        put_bytes(name.as_bytes());
        put_bytes(b"] ");
        put_bytes(line);
        put_bytes(b"\n");
    }
}

#[defmt::global_logger]
struct Logger;

static ENCODER: Mutex<defmt::Encoder> = Mutex::new(defmt::Encoder::new());

// SAFETY: `acquire` takes the console lock and keeps it until `release`; every CPU runs
// EL2 code with interrupts masked, so no frame is re-entered on the same CPU.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        core::mem::forget(LOCK.lock());
        // The rzcobs encoder writes nothing at a frame start except, once, a 0x00
        // separator: it goes before the marker, where the host ignores it.
        ENCODER.lock().start_frame(put_bytes);
        put_bytes(&[FRAME_START]);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        ENCODER.lock().end_frame(put_bytes);
        // SAFETY: paired with the guard forgotten in `acquire` on this CPU.
        unsafe { LOCK.force_unlock() };
    }

    unsafe fn write(bytes: &[u8]) {
        ENCODER.lock().write(bytes, put_bytes);
    }
}

//! The hypervisor console: a 16550 on I/O ports shared by defmt log frames and partition
//! lines (wire format: `bulkhead_core::log`).
//!
//! One lock serialises whole frames and whole lines. A waiter spins with PAUSE: x86 has
//! no WFE, and interrupts stay off in the hypervisor.

use core::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use bulkhead_core::log;
use bulkhead_core::vdev::ConsoleSink;
use bulkhead_drivers::ns16550::{Access, Ns16550};
use x86_64::instructions::port::Port;

static BASE: AtomicU16 = AtomicU16::new(0);
static LOCK: AtomicBool = AtomicBool::new(false);

/// A 16550 at an I/O port base.
#[derive(Clone, Copy)]
pub struct Ports(pub u16);

impl Access for Ports {
    fn read(&self, reg: u8) -> u8 {
        // SAFETY: `Ports` only names the console UART (set by `init` from the platform
        // description); reading its registers has no effect beyond the UART.
        unsafe { Port::<u8>::new(self.0 + u16::from(reg)).read() }
    }

    fn write(&self, reg: u8, value: u8) {
        // SAFETY: as above; the hypervisor owns this UART.
        unsafe { Port::<u8>::new(self.0 + u16::from(reg)).write(value) }
    }
}

fn acquire() {
    while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
}

fn release() {
    LOCK.store(false, Ordering::Release);
}

/// Directs console output to the 16550 at I/O port `base` (0: no console) and sets it
/// to 115200 8N1.
pub fn init(base: u16) {
    if base != 0 {
        Ns16550::new(Ports(base)).init();
    }
    BASE.store(base, Ordering::Release);
}

fn put_bytes(bytes: &[u8]) {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    let uart = Ns16550::new(Ports(base));
    for &b in bytes {
        uart.putc(b);
    }
}

/// Writes a line of plain text (a banner or a last-resort message) under the lock.
pub fn write_line(text: &str) {
    acquire();
    put_bytes(text.as_bytes());
    put_bytes(b"\n");
    release();
}

/// Partition console lines: `[name] text`.
pub struct Sink;

impl ConsoleSink for Sink {
    fn line(&self, name: &str, line: &[u8]) {
        acquire();
        log::partition_line(name, line, put_bytes);
        release();
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` takes the console lock and keeps it until `release`; the hypervisor
// runs with interrupts disabled, so no frame is re-entered on the same CPU.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        acquire();
        log::start_frame(put_bytes);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        log::end_frame(put_bytes);
        release();
    }

    unsafe fn write(bytes: &[u8]) {
        log::write_frame(bytes, put_bytes);
    }
}

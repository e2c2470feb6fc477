//! COM1 (16550 at 0x3f8): polled transmit, whole lines, one CPU at a time.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::boot::cpu_index;
use crate::cpu;

/// COM1's I/O base.
const COM1: u16 = 0x3f8;
/// Line status register; bit 5: transmit holding register empty.
const LSR: u16 = COM1 + 5;
const LSR_THRE: u8 = 1 << 5;
/// LSR bit 6: transmitter empty (holding and shift register).
const LSR_TEMT: u8 = 1 << 6;
/// Polls of LSR before sending anyway (a missing UART reads 0xff; a stuck one must not
/// hang the guest).
const POLL_LIMIT: u32 = 100_000;

/// Owner of the console lock: 0 when free, else CPU index + 1.
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// Poll LSR before each byte: natively only. Bulkhead's virtual UART takes every byte at
/// once, and each port access is an exit.
static POLL: AtomicBool = AtomicBool::new(false);

/// Programs the real UART (115200 8N1, FIFOs on) and turns on LSR polling. Natively only:
/// in a partition the console is virtual and transmit-only.
pub fn init_native() {
    cpu::outb(COM1 + 1, 0x00); // no interrupts
    cpu::outb(COM1 + 3, 0x80); // DLAB
    cpu::outb(COM1, 0x01); // divisor 1: 115200 baud
    cpu::outb(COM1 + 1, 0x00);
    cpu::outb(COM1 + 3, 0x03); // 8N1
    cpu::outb(COM1 + 2, 0xc7); // FIFOs on and cleared
    cpu::outb(COM1 + 4, 0x03); // DTR, RTS
    POLL.store(true, Ordering::SeqCst);
}

/// Prints one line (a `\n` is appended) without interleaving with other CPUs.
pub fn println(args: fmt::Arguments<'_>) {
    let guard = Guard::lock();
    let mut uart = Uart;
    // Uart::write_str never fails; a Display impl that errors just cuts the line short.
    let _ = uart.write_fmt(args);
    uart.put(b'\n');
    drop(guard);
}

/// Waits (bounded) until the real UART has sent every byte (LSR.TEMT), so that a line
/// printed just before a reset, power-off or stop is not cut short. A no-op in a
/// partition, whose console takes each byte at once.
pub fn flush() {
    if !POLL.load(Ordering::Relaxed) {
        return;
    }
    for _ in 0..POLL_LIMIT {
        if cpu::inb(LSR) & LSR_TEMT != 0 {
            break;
        }
        cpu::pause();
    }
}

/// Prints a formatted line on the console, e.g. `say!("cpu {} up", i)`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::println(format_args!($($arg)*)) };
}

struct Uart;

impl Uart {
    fn put(&mut self, byte: u8) {
        if POLL.load(Ordering::Relaxed) {
            for _ in 0..POLL_LIMIT {
                if cpu::inb(LSR) & LSR_THRE != 0 {
                    break;
                }
                cpu::pause();
            }
        }
        cpu::outb(COM1, byte);
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.put(b));
        Ok(())
    }
}

/// The console lock with interrupts off while held; re-entrant on the owning CPU so that
/// an exception while printing still gets its message out.
struct Guard {
    irqs: bool,
    nested: bool,
}

impl Guard {
    fn lock() -> Self {
        let irqs = cpu::irqs_off();
        let me = cpu_index() + 1;
        if OWNER.load(Ordering::Relaxed) == me {
            return Guard { irqs, nested: true };
        }
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            cpu::pause();
        }
        Guard {
            irqs,
            nested: false,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.nested {
            OWNER.store(0, Ordering::Release);
        }
        cpu::irqs_restore(self.irqs);
    }
}

//! PL011 console: polled transmit, whole lines, one vCPU at a time.

use core::arch::asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::cpu_index;

/// PL011 base used until the device tree names one (QEMU `virt`'s UART0).
pub const DEFAULT_UART: usize = 0x0900_0000;
/// `UARTDR`: data register.
const UARTDR: usize = 0x00;
/// `UARTFR`: flag register.
const UARTFR: usize = 0x18;
/// `UARTFR.TXFF`: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;

static UART_BASE: AtomicUsize = AtomicUsize::new(DEFAULT_UART);
/// Owner of the console lock: 0 when free, else vCPU index + 1.
static OWNER: AtomicUsize = AtomicUsize::new(0);

/// Selects the PL011 all later output goes to.
pub fn set_base(base: usize) {
    UART_BASE.store(base, Ordering::SeqCst);
}

/// Prints one line (a `\n` is appended) without interleaving with other vCPUs.
pub fn println(args: fmt::Arguments<'_>) {
    let guard = Guard::lock();
    let mut uart = Uart(UART_BASE.load(Ordering::Relaxed));
    // Uart::write_str never fails; a Display impl that errors just cuts the line short.
    let _ = uart.write_fmt(args);
    uart.put(b'\n');
    drop(guard);
}

/// Prints a formatted line on the console, e.g. `say!("cpu {} up", i)`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::println(format_args!($($arg)*)) };
}

struct Uart(usize);

impl Uart {
    fn put(&mut self, byte: u8) {
        let (fr, dr) = (self.0 + UARTFR, self.0 + UARTDR);
        // SAFETY: UART_BASE is the PL011 from the device tree (or QEMU's default), a
        // device mapping the guest owns; FR and DR are 32-bit registers at these offsets.
        unsafe {
            while crate::mmio::read32(fr) & FR_TXFF != 0 {}
            crate::mmio::write32(dr, u32::from(byte));
        }
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.put(b));
        Ok(())
    }
}

/// The console lock with IRQs masked while held; re-entrant on the owning vCPU so
/// that an exception or panic while printing still gets its message out.
struct Guard {
    daif: u64,
    nested: bool,
}

impl Guard {
    fn lock() -> Self {
        let daif = mask_irqs();
        let me = cpu_index() + 1;
        if OWNER.load(Ordering::Relaxed) == me {
            return Guard { daif, nested: true };
        }
        while OWNER
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: waits for an event; the owner's unlock sends one (SEV).
            unsafe { asm!("wfe", options(nomem, nostack)) };
        }
        Guard {
            daif,
            nested: false,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.nested {
            OWNER.store(0, Ordering::Release);
            // SAFETY: DSB makes the release visible before SEV wakes the waiters.
            unsafe { asm!("dsb ish", "sev", options(nostack)) };
        }
        // SAFETY: restores the DAIF mask that lock() saved on this vCPU.
        unsafe { asm!("msr daif, {}", in(reg) self.daif, options(nomem, nostack)) };
    }
}

/// Masks IRQs (and FIQs) on this vCPU and returns the previous `DAIF`.
fn mask_irqs() -> u64 {
    let daif: u64;
    // SAFETY: reads DAIF and sets the I and F masks; restored by the caller.
    unsafe { asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nomem, nostack)) };
    daif
}

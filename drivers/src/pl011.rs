//! PL011 UART transmitter for the hypervisor's own console (Arm DDI 0183, PrimeCell UART).

use core::fmt;
use core::hint::spin_loop;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// Field layouts; `register_bitfields!` generates items without docs, hence the `allow`.
#[allow(missing_docs)]
mod fields {
    use tock_registers::register_bitfields;

    register_bitfields! {u32,
        /// `UARTFR`, flag register.
        pub UARTFR [
            /// Transmit FIFO empty.
            TXFE OFFSET(7) NUMBITS(1) [],
            /// Transmit FIFO full: a write to `UARTDR` now would be lost.
            TXFF OFFSET(5) NUMBITS(1) [],
            /// UART busy transmitting.
            BUSY OFFSET(3) NUMBITS(1) []
        ],
        /// `UARTCR`, control register.
        pub UARTCR [
            /// Transmit enable.
            TXE OFFSET(8) NUMBITS(1) [],
            /// UART enable.
            UARTEN OFFSET(0) NUMBITS(1) []
        ]
    }
}

pub use fields::{UARTCR, UARTFR};

register_structs! {
    /// The PL011 registers the transmitter uses.
    pub Pl011Regs {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, UARTFR::Register>),
        (0x01c => _reserved1),
        (0x030 => cr: ReadOnly<u32, UARTCR::Register>),
        (0x034 => @END),
    }
}

/// A polled PL011 transmitter. Baud rate and line format stay as firmware set them.
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// A driver for the PL011 mapped at `base`.
    ///
    /// # Safety
    /// `base` must be the hypervisor-virtual address of a PL011 mapped as Device memory
    /// for the rest of the program, not handed to any partition.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &Pl011Regs {
        // SAFETY: `new`'s contract: `base` maps a live PL011 for 'static; the register
        // types are interior-mutable volatile cells.
        unsafe { &*(self.base as *const Pl011Regs) }
    }

    /// Prepares the UART: nothing to do, firmware (or QEMU) left it enabled and clocked;
    /// reprogramming the baud rate would need the reference clock, which we do not know.
    /// Returns whether the transmitter is enabled (`UARTCR.UARTEN` and `TXE`).
    pub fn init(&self) -> bool {
        let cr = self.regs().cr.extract();
        cr.is_set(UARTCR::UARTEN) && cr.is_set(UARTCR::TXE)
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn putc(&self, byte: u8) {
        let r = self.regs();
        while r.fr.is_set(UARTFR::TXFF) {
            spin_loop();
        }
        r.dr.set(u32::from(byte));
    }

    /// Sends `bytes`, turning `\n` into `\r\n` for terminals.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }

    /// Waits until every queued byte has left the shift register.
    pub fn flush(&self) {
        while self.regs().fr.is_set(UARTFR::BUSY) {
            spin_loop();
        }
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn putc_writes_dr_and_init_reports_enable() {
        let mut mem = [0u32; 0x34 / 4];
        mem[0x30 / 4] = 0x301; // UARTCR: RXE | TXE | UARTEN
                               // SAFETY: `mem` outlives the driver and covers the registers it touches.
        let uart = unsafe { Pl011::new(mem.as_mut_ptr() as usize) };
        assert!(uart.init());
        uart.write_bytes(b"A\n");
        uart.flush();
        assert_eq!(mem[0], u32::from(b'\n')); // last byte written; '\r' went before it
    }
}

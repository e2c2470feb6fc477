//! 16550 UART transmitter for the hypervisor's own console (the PC serial port; TI
//! PC16550D data sheet). Register access is the caller's: x86 reaches COM1 through I/O
//! ports, other platforms map it as MMIO, so the driver takes an [`Access`].

use core::hint::spin_loop;

/// Reads and writes the UART's byte registers by index (0..8).
pub trait Access {
    /// Reads register `reg`.
    fn read(&self, reg: u8) -> u8;
    /// Writes `value` to register `reg`.
    fn write(&self, reg: u8, value: u8);
}

/// Transmit holding register (write, DLAB = 0).
const THR: u8 = 0;
/// Interrupt enable register.
const IER: u8 = 1;
/// FIFO control register (write).
const FCR: u8 = 2;
/// Line control register.
const LCR: u8 = 3;
/// Modem control register.
const MCR: u8 = 4;
/// Line status register.
const LSR: u8 = 5;
/// LSR: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;
/// LSR: holding and shift registers are both empty.
const LSR_TEMT: u8 = 1 << 6;
/// LCR: the divisor latch is visible at registers 0 and 1.
const LCR_DLAB: u8 = 1 << 7;
/// LCR: 8 data bits, no parity, one stop bit.
const LCR_8N1: u8 = 0b11;

/// A polled 16550 transmitter.
pub struct Ns16550<A: Access> {
    io: A,
}

impl<A: Access> Ns16550<A> {
    /// A driver over `io`.
    pub const fn new(io: A) -> Self {
        Self { io }
    }

    /// 115200 baud 8N1 from the 1.8432 MHz PC clock, FIFOs on, interrupts off.
    pub fn init(&self) {
        self.io.write(IER, 0);
        self.io.write(LCR, LCR_DLAB);
        self.io.write(0, 1); // divisor 1: 115200 baud
        self.io.write(1, 0);
        self.io.write(LCR, LCR_8N1);
        self.io.write(FCR, 0x07); // enable and clear both FIFOs
        self.io.write(MCR, 0x03); // DTR, RTS
    }

    /// Sends one byte, waiting until the holding register is free.
    pub fn putc(&self, byte: u8) {
        while self.io.read(LSR) & LSR_THRE == 0 {
            spin_loop();
        }
        self.io.write(THR, byte);
    }

    /// Waits until every byte has left the shift register.
    pub fn flush(&self) {
        while self.io.read(LSR) & LSR_TEMT == 0 {
            spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Fake(RefCell<Vec<(u8, u8)>>);

    impl Access for &Fake {
        fn read(&self, reg: u8) -> u8 {
            if reg == LSR {
                LSR_THRE | LSR_TEMT
            } else {
                0
            }
        }
        fn write(&self, reg: u8, value: u8) {
            self.0.borrow_mut().push((reg, value));
        }
    }

    #[test]
    fn init_programs_115200_8n1_and_putc_writes_thr() {
        let fake = Fake(RefCell::new(Vec::new()));
        let uart = Ns16550::new(&fake);
        uart.init();
        uart.putc(b'x');
        let w = fake.0.borrow();
        assert!(w.contains(&(LCR, LCR_8N1)) && w.contains(&(0, 1)));
        assert_eq!(*w.last().unwrap(), (THR, b'x'));
    }
}

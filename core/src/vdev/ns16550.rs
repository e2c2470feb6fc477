//! An emulated 16550 UART on I/O ports: transmit only, always ready, enough for Linux's
//! 8250 driver and for bare-metal guests (TI PC16550D data sheet). x86 partitions get it
//! at COM1 (0x3f8) as their virtual console.

use alloc::string::String;
use alloc::sync::Arc;
use spin::Mutex;

use super::{BadAccess, ConsoleSink, LineBuffer, MmioDevice, VirtConsole};

/// Transmit holding / receive buffer / divisor latch low (by LCR.DLAB).
const THR: u64 = 0;
/// Interrupt enable / divisor latch high.
const IER: u64 = 1;
/// Interrupt identification (read) / FIFO control (write).
const IIR: u64 = 2;
/// Line control.
const LCR: u64 = 3;
/// Modem control.
const MCR: u64 = 4;
/// Line status.
const LSR: u64 = 5;
/// Modem status.
const MSR: u64 = 6;
/// Scratch.
const SCR: u64 = 7;
/// LCR: divisor latch access.
const LCR_DLAB: u8 = 1 << 7;
/// LSR: transmitter holding register and transmitter empty: always ready.
const LSR_IDLE: u8 = (1 << 5) | (1 << 6);
/// IIR: no interrupt pending, FIFOs enabled.
const IIR_NONE: u8 = 0xc1;
/// MSR: CTS, DSR, DCD asserted, as with a null-modem cable attached.
const MSR_READY: u8 = 0xb0;

/// Registers a driver writes and reads back: IER, LCR, MCR, SCR, divisor low and high.
#[derive(Default)]
struct Regs {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
}

/// The virtual 16550 of one partition.
pub struct VirtNs16550 {
    name: String,
    line: LineBuffer,
    regs: Mutex<Regs>,
    sink: Arc<dyn ConsoleSink>,
}

impl VirtNs16550 {
    /// A UART whose lines go to `sink` prefixed with `name`.
    pub fn new(name: &str, sink: Arc<dyn ConsoleSink>) -> Self {
        Self { name: String::from(name), line: LineBuffer::new(), regs: Mutex::new(Regs::default()), sink }
    }
}

impl VirtConsole for VirtNs16550 {
    fn push(&self, bytes: &[u8]) {
        self.line.write(&self.name, bytes, self.sink.as_ref());
    }
}

impl MmioDevice for VirtNs16550 {
    fn read(&self, _vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        if size != 1 {
            return Err(BadAccess("a wider than 8-bit access to the virtual UART"));
        }
        let r = self.regs.lock();
        let dlab = r.lcr & LCR_DLAB != 0;
        Ok(u64::from(match offset {
            THR if dlab => r.dll,
            IER if dlab => r.dlm,
            THR => 0,
            IER => r.ier,
            IIR => IIR_NONE,
            LCR => r.lcr,
            MCR => r.mcr,
            LSR => LSR_IDLE,
            MSR => MSR_READY,
            SCR => r.scr,
            _ => return Err(BadAccess("a port beyond the virtual UART")),
        }))
    }

    fn write(&self, _vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        if size != 1 {
            return Err(BadAccess("a wider than 8-bit access to the virtual UART"));
        }
        let byte = value as u8;
        let mut r = self.regs.lock();
        let dlab = r.lcr & LCR_DLAB != 0;
        match offset {
            THR if dlab => r.dll = byte,
            IER if dlab => r.dlm = byte,
            THR => {
                drop(r);
                self.push(&[byte]);
            }
            IER => r.ier = byte & 0x0f,
            IIR => {} // FIFO control: the model has no FIFOs to reset
            LCR => r.lcr = byte,
            MCR => r.mcr = byte & 0x1f,
            LSR | MSR => {}
            SCR => r.scr = byte,
            _ => return Err(BadAccess("a port beyond the virtual UART")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vdev::console::tests::Lines;

    #[test]
    fn bytes_to_thr_become_lines_and_the_divisor_latch_is_separate() {
        let sink = Arc::new(Lines::default());
        let uart = VirtNs16550::new("alpha", sink.clone());
        uart.write(0, LCR, 1, u64::from(LCR_DLAB)).unwrap();
        uart.write(0, THR, 1, 1).unwrap(); // divisor, not a character
        uart.write(0, LCR, 1, 3).unwrap();
        for b in b"hi\n" {
            uart.write(0, THR, 1, u64::from(*b)).unwrap();
        }
        assert_eq!(*sink.0.lock().unwrap(), ["[alpha] hi"]);
        assert_eq!(uart.read(0, LSR, 1).unwrap() & 0x20, 0x20, "always ready");
        assert!(uart.read(0, LSR, 2).is_err());
        assert!(uart.write(0, 8, 1, 0).is_err());
    }
}

//! An emulated PL011 UART: transmit only, always ready, enough for Linux's amba-pl011
//! driver and for bare-metal guests (ARM DDI 0183 "PrimeCell UART (PL011)").

use alloc::string::String;
use alloc::sync::Arc;
use spin::Mutex;

use super::{BadAccess, ConsoleSink, LineBuffer, MmioDevice, VirtConsole};

const DR: u64 = 0x000;
const FR: u64 = 0x018;
const FR_TXFE: u64 = 1 << 7;
const FR_RXFE: u64 = 1 << 4;
/// Registers a driver programs and reads back (IBRD, FBRD, LCR_H, CR, IFLS, IMSC, DMACR).
const STORED: [u64; 7] = [0x024, 0x028, 0x02c, 0x030, 0x034, 0x038, 0x048];
/// Peripheral and PrimeCell ids at 0xFE0..0xFFC: part 0x011, designer ARM, revision 1.
const ID: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// The virtual UART of one partition.
pub struct VirtPl011 {
    name: String,
    line: LineBuffer,
    regs: Mutex<[u32; 7]>,
    sink: Arc<dyn ConsoleSink>,
}

impl VirtPl011 {
    /// A UART whose lines go to `sink` prefixed with `name`.
    pub fn new(name: &str, sink: Arc<dyn ConsoleSink>) -> Self {
        Self { name: String::from(name), line: LineBuffer::new(), regs: Mutex::new([0; 7]), sink }
    }

}

impl VirtConsole for VirtPl011 {
    /// Writes bytes as if the guest had sent them (the console hypercall shares the line).
    fn push(&self, bytes: &[u8]) {
        self.line.write(&self.name, bytes, self.sink.as_ref());
    }
}

/// PL011 registers are at most 32 bits wide and naturally aligned; anything else is no
/// access a UART driver makes (on hardware: an external abort).
fn check(offset: u64, size: u8) -> Result<(), BadAccess> {
    match size {
        1 | 2 | 4 if offset.is_multiple_of(u64::from(size)) => Ok(()),
        _ => Err(BadAccess("an unaligned or wider than 32-bit access to the virtual UART")),
    }
}

impl MmioDevice for VirtPl011 {
    fn read(&self, _vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        check(offset, size)?;
        Ok(match offset {
            FR => FR_TXFE | FR_RXFE,
            0xfe0..=0xffc if offset.is_multiple_of(4) => u64::from(ID[((offset - 0xfe0) / 4) as usize]),
            _ => match STORED.iter().position(|&r| r == offset) {
                Some(i) => u64::from(self.regs.lock()[i]),
                None => 0,
            },
        })
    }

    fn write(&self, _vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        check(offset, size)?;
        if offset == DR {
            self.push(&[value as u8]);
        } else if let Some(i) = STORED.iter().position(|&r| r == offset) {
            self.regs.lock()[i] = value as u32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vdev::console::tests::Lines;

    #[test]
    fn bytes_written_to_dr_become_lines() {
        let sink = Arc::new(Lines::default());
        let uart = VirtPl011::new("beta", sink.clone());
        for b in b"hi\n" {
            uart.write(0, DR, 4, u64::from(*b)).unwrap();
        }
        assert_eq!(*sink.0.lock().unwrap(), ["[beta] hi"]);
    }

    #[test]
    fn odd_accesses_are_refused() {
        let uart = VirtPl011::new("x", Arc::new(Lines::default()));
        assert!(uart.read(0, 0x19, 4).is_err());
        assert!(uart.read(0, 0x18, 8).is_err());
        assert!(uart.write(0, 0x1, 1, 0).is_ok());
        assert!(uart.write(0, 0x2, 4, 0).is_err());
    }

    #[test]
    fn reads_say_ready_and_identify_a_pl011() {
        let uart = VirtPl011::new("x", Arc::new(Lines::default()));
        assert_eq!(uart.read(0, FR, 4).unwrap() & (1 << 5), 0, "TXFF must be clear");
        assert_eq!(uart.read(0, 0xfe0, 4).unwrap(), 0x11);
        assert_eq!(uart.read(0, 0xffc, 4).unwrap(), 0xb1);
        uart.write(0, 0x030, 4, 0x301).unwrap();
        assert_eq!(uart.read(0, 0x030, 4).unwrap(), 0x301);
    }
}

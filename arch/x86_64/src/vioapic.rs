//! The virtual I/O APIC a partition sees at 0xfec00000 (Intel 82093AA data sheet:
//! IOREGSEL at 0x00, IOWIN at 0x10, 24 redirection entries).
//!
//! Only the partition's own pins ever fire: its passthrough devices' GSIs (the runtime
//! forwards the physical pin) and its channel doorbells. The model keeps the guest's
//! routing (vector, destination vCPU, trigger, mask) and level-triggered pins' remote
//! IRR, so a level interrupt is delivered again only after the guest's EOI.

use spin::Mutex;

/// Pins (redirection entries).
pub const PINS: u32 = 24;
/// The first pin a channel doorbell may use (the ISA pins 0..15 belong to devices).
pub const DOORBELL_FIRST: u32 = 16;
/// IOAPIC version register: 24 entries (maximum index 23), version 0x11.
const VERSION: u32 = ((PINS - 1) << 16) | 0x11;
/// RTE bits.
const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const REMOTE_IRR: u64 = 1 << 14;
const DELIVERY_STATUS: u64 = 1 << 12;
/// Bits a guest may write: vector, delivery mode, destination mode, polarity, trigger,
/// mask, destination.
const WRITABLE: u64 = 0xff00_0000_0001_afff;

/// Where a pin's interrupt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The vector.
    pub vector: u8,
    /// The destination vCPU (physical destination mode: the x2APIC id).
    pub vcpu: u32,
    /// Level-triggered: the vCPU's EOI must reach the I/O APIC (TMR set on delivery).
    pub level: bool,
}

struct State {
    select: u32,
    rte: [u64; PINS as usize],
}

/// One partition's I/O APIC.
pub struct VIoApic {
    state: Mutex<State>,
}

impl Default for VIoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl VIoApic {
    /// Every pin masked, as after reset.
    pub const fn new() -> Self {
        Self { state: Mutex::new(State { select: 0, rte: [MASKED; PINS as usize] }) }
    }

    /// Back to the reset state (a partition restart).
    pub fn reset(&self) {
        *self.state.lock() = State { select: 0, rte: [MASKED; PINS as usize] };
    }

    /// A 32-bit read at `offset` in the window.
    pub fn read(&self, offset: u64) -> Option<u32> {
        let s = self.state.lock();
        match offset {
            0x00 => Some(s.select),
            0x10 => Some(match s.select {
                0 => 0,
                1 => VERSION,
                2 => 0,
                r @ 0x10..=0x3f => {
                    let rte = s.rte[((r - 0x10) / 2) as usize];
                    if r.is_multiple_of(2) { rte as u32 } else { (rte >> 32) as u32 }
                }
                _ => 0,
            }),
            _ => None,
        }
    }

    /// A 32-bit write at `offset`; returns the pin whose routing changed, if any.
    pub fn write(&self, offset: u64, value: u32) -> Option<Option<u32>> {
        let mut s = self.state.lock();
        match offset {
            0x00 => {
                s.select = value & 0xff;
                Some(None)
            }
            0x10 => {
                let r = s.select;
                if !(0x10..=0x3f).contains(&r) {
                    return Some(None);
                }
                let pin = (r - 0x10) / 2;
                let old = s.rte[pin as usize];
                let new = if r.is_multiple_of(2) {
                    (old & !0xffff_ffff) | u64::from(value)
                } else {
                    (old & 0xffff_ffff) | (u64::from(value) << 32)
                };
                s.rte[pin as usize] = (new & WRITABLE) | (old & (REMOTE_IRR | DELIVERY_STATUS));
                Some(Some(pin))
            }
            0x40 => {
                // EOI register (version 0x20 and up; harmless here): by vector.
                drop(s);
                self.eoi(value as u8);
                Some(None)
            }
            _ => None,
        }
    }

    /// Where `pin` delivers now, unless masked or a level interrupt still waits for
    /// its EOI; marks a level pin's remote IRR.
    pub fn fire(&self, pin: u32) -> Option<Route> {
        let mut s = self.state.lock();
        let rte = s.rte.get_mut(pin as usize)?;
        if *rte & MASKED != 0 || *rte & REMOTE_IRR != 0 {
            return None;
        }
        if *rte & LEVEL != 0 {
            *rte |= REMOTE_IRR;
        }
        Some(Route { vector: *rte as u8, vcpu: (*rte >> 56) as u32, level: *rte & LEVEL != 0 })
    }

    /// The guest ended `vector`: level pins routed to it leave remote IRR; returns them
    /// (their physical line may be unmasked again).
    pub fn eoi(&self, vector: u8) -> u32 {
        let mut s = self.state.lock();
        let mut pins = 0;
        for (pin, rte) in s.rte.iter_mut().enumerate() {
            if *rte & REMOTE_IRR != 0 && *rte as u8 == vector {
                *rte &= !REMOTE_IRR;
                pins |= 1 << pin;
            }
        }
        pins
    }

    /// Whether `pin` is masked or level-triggered, and its route: for programming the
    /// physical pin of a passthrough device.
    pub fn routing(&self, pin: u32) -> Option<(Route, bool, bool)> {
        let s = self.state.lock();
        let rte = *s.rte.get(pin as usize)?;
        Some((Route { vector: rte as u8, vcpu: (rte >> 56) as u32, level: rte & LEVEL != 0 }, rte & MASKED != 0, rte & LEVEL != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(io: &VIoApic, pin: u32, low: u32, high: u32) {
        io.write(0, 0x10 + 2 * pin);
        io.write(0x10, low);
        io.write(0, 0x11 + 2 * pin);
        io.write(0x10, high);
    }

    #[test]
    fn a_routed_edge_pin_fires_each_time_a_masked_one_never() {
        let io = VIoApic::new();
        assert_eq!(io.fire(3), None, "masked at reset");
        program(&io, 3, 0x31, 1 << 24);
        assert_eq!(io.fire(3), Some(Route { vector: 0x31, vcpu: 1, level: false }));
        assert_eq!(io.fire(3), Some(Route { vector: 0x31, vcpu: 1, level: false }));
        io.write(0, 1);
        assert_eq!(io.read(0x10), Some(VERSION));
    }

    #[test]
    fn a_level_pin_waits_for_its_eoi() {
        let io = VIoApic::new();
        program(&io, 5, 0x40 | LEVEL as u32, 0);
        assert_eq!(io.fire(5), Some(Route { vector: 0x40, vcpu: 0, level: true }));
        assert_eq!(io.fire(5), None, "remote IRR set");
        assert_eq!(io.eoi(0x41), 0);
        assert_eq!(io.eoi(0x40), 1 << 5);
        assert!(io.fire(5).is_some());
    }

    #[test]
    fn guests_cannot_set_read_only_bits_or_reach_beyond_the_table() {
        let io = VIoApic::new();
        program(&io, 0, u32::MAX, u32::MAX);
        let (_, masked, level) = io.routing(0).unwrap();
        assert!(masked && level);
        io.write(0, 0x10);
        assert_eq!(io.read(0x10).unwrap() & (REMOTE_IRR | DELIVERY_STATUS) as u32, 0);
        io.write(0, 0x80);
        assert_eq!(io.write(0x10, 1), Some(None));
        assert_eq!(io.fire(PINS), None);
        assert_eq!(io.read(0x20), None);
    }
}

//! The TSC's frequency, measured once at boot against the PIT (channel 2, gated through
//! port 0x61, one-shot mode 0: OUT2 rises after the programmed count). Partitions are
//! told it (CPUID 0x15/0x16, 0x40000001), and the virtual APIC timer runs on the TSC.

use x86_64::instructions::port::Port;

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;
/// How long to measure.
const MS: u64 = 10;

/// TSC ticks per millisecond.
pub fn per_ms() -> u64 {
    let count = (PIT_HZ * MS / 1000) as u16;
    let (mut gate, mut mode, mut data) = (Port::<u8>::new(0x61), Port::<u8>::new(0x43), Port::<u8>::new(0x42));
    // SAFETY: the PIT and port 0x61 are the hypervisor's (the platform description marks
    // them hypervisor-owned): gate channel 2 on with the speaker off, program channel 2
    // for a one-shot count, and poll its output.
    let ticks = unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01);
        mode.write(0xb0); // channel 2, low then high byte, mode 0, binary
        data.write(count as u8);
        data.write((count >> 8) as u8);
        let start = super::apic::tsc();
        let mut spins = 0u64;
        while gate.read() & 0x20 == 0 && spins < 1 << 32 {
            spins += 1;
        }
        super::apic::tsc() - start
    };
    (ticks / MS).max(1)
}

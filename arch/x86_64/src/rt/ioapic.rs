//! The physical I/O APIC, which the hypervisor keeps: a passthrough device's pin is
//! routed to the CPU of its partition's first vCPU on vector `apic::PIN_BASE + pin`;
//! the partition's virtual I/O APIC decides where in the partition it goes from there.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::apic;

static BASE: AtomicU64 = AtomicU64::new(0);
static LOCK: Mutex<()> = Mutex::new(());

/// Uses the I/O APIC at physical `base` (from the MADT), every pin masked.
pub fn init(base: u64) {
    BASE.store(base, Ordering::Release);
    for pin in 0..24 {
        write_rte(pin, 1 << 16);
    }
}

fn write_rte(pin: u32, rte: u64) {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    let _g = LOCK.lock();
    // SAFETY: `base` is the I/O APIC the hypervisor owns (never mapped into a
    // partition), identity-mapped; IOREGSEL/IOWIN are its only registers used here.
    unsafe {
        let sel = base as *mut u32;
        let win = (base + 0x10) as *mut u32;
        sel.write_volatile(0x10 + 2 * pin);
        win.write_volatile(rte as u32);
        sel.write_volatile(0x11 + 2 * pin);
        win.write_volatile((rte >> 32) as u32);
    }
}

/// Routes `pin` (edge, active high) to x2APIC id `dest`, unmasked.
pub fn route(pin: u32, dest: u32) {
    let vector = u64::from(apic::PIN_BASE) + u64::from(pin);
    write_rte(pin, vector | (u64::from(dest) << 56));
}

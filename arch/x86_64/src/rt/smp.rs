//! Starting the other CPUs: the AP trampoline (boot.s) copied below 1 MiB, then
//! INIT-SIPI-SIPI per CPU, one at a time (they share the trampoline's stack slot).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::apic;

/// Where the trampoline runs: the SIPI vector 0x08 → 0x8000.
const TRAMPOLINE: usize = 0x8000;
/// Bytes of stack each AP gets.
const STACK_SIZE: usize = 64 << 10;

extern "C" {
    static ap_trampoline: u8;
    static ap_trampoline_end: u8;
    static ap_stack: u8;
}

/// APs that reached Rust.
pub static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Busy-waits about `ticks` TSC ticks.
fn delay(ticks: u64) {
    let start = apic::tsc();
    while apic::tsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Starts the CPU with x2APIC id `apic_id` on a fresh stack; waits until it runs Rust.
/// Returns whether it did.
pub fn start(apic_id: u32, tsc_per_ms: u64) -> bool {
    let start = core::ptr::addr_of!(ap_trampoline) as usize;
    let len = core::ptr::addr_of!(ap_trampoline_end) as usize - start;
    let stack_slot = core::ptr::addr_of!(ap_stack) as usize - start;
    let stack: &'static mut [u128] = alloc::vec![0u128; STACK_SIZE / 16].leak();
    let top = stack.as_mut_ptr_range().end as u64;
    // SAFETY: the page at TRAMPOLINE is below 1 MiB, outside all platform RAM a
    // partition can be given (the platform description starts RAM at 1 MiB) and used by
    // nothing else; the copy is the trampoline's own bytes plus this AP's stack top.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE as *mut u8, len);
        ((TRAMPOLINE + stack_slot) as *mut u64).write_volatile(top);
    }
    let before = STARTED.load(Ordering::Acquire);
    apic::start_cpu(apic_id, (TRAMPOLINE >> 12) as u8, |t| delay(t * tsc_per_ms / 1000));
    let deadline = apic::tsc() + 100 * tsc_per_ms;
    while STARTED.load(Ordering::Acquire) == before {
        if apic::tsc() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

//! Cache maintenance after the hypervisor writes guest memory (Arm ARM D7.5).

use core::arch::asm;

const LINE: usize = 64;

/// Cleans `[start, start + len)` to the point of coherency, so a guest that starts
/// with its MMU and caches off reads what the hypervisor wrote through its caches.
pub fn clean_range(start: u64, len: usize) {
    let end = start as usize + len;
    let mut line = start as usize & !(LINE - 1);
    while line < end {
        // SAFETY: cleaning a data-cache line changes no memory contents.
        unsafe { asm!("dc cvac, {}", in(reg) line) };
        line += LINE;
    }
    // SAFETY: a barrier has no effect beyond ordering.
    unsafe { asm!("dsb ish") };
}

/// Cleans and invalidates `[start, start + len)` to the point of coherency: after it no
/// cache holds a line of the range, dirty or clean.
pub fn clean_invalidate_range(start: u64, len: usize) {
    let end = start as usize + len;
    let mut line = start as usize & !(LINE - 1);
    while line < end {
        // SAFETY: writing back and dropping a data-cache line changes no memory contents
        // as seen by any observer (the data goes to memory first).
        unsafe { asm!("dc civac, {}", in(reg) line) };
        line += LINE;
    }
    // SAFETY: a barrier has no effect beyond ordering.
    unsafe { asm!("dsb ish") };
}

/// Invalidates instruction caches so freshly copied guest code is fetched anew.
pub fn sync_instructions() {
    // SAFETY: invalidating instruction caches and barriers change no memory.
    unsafe { asm!("dsb ish", "ic ialluis", "dsb ish", "isb") };
}

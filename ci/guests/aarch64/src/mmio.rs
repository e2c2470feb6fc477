//! MMIO accessors that a hypervisor can emulate.
//!
//! A trapped access carries a usable syndrome (ESR_EL2.ISV) only for a plain load or
//! store of one register without writeback (Arm ARM D17.2.37); compiled `read_volatile`
//! may use pre-index writeback forms. Linux's readl/writel use inline assembly for the
//! same reason.

use core::arch::asm;

/// Loads the 32-bit register at `addr`.
///
/// # Safety
/// `addr` must be a device register (or memory) the caller may read.
pub unsafe fn read32(addr: usize) -> u32 {
    let value: u32;
    // SAFETY: the caller vouches for `addr`.
    unsafe { asm!("ldr {0:w}, [{1}]", out(reg) value, in(reg) addr, options(nostack, readonly)) };
    value
}

/// Stores `value` to the 32-bit register at `addr`.
///
/// # Safety
/// `addr` must be a device register (or memory) the caller may write.
pub unsafe fn write32(addr: usize, value: u32) {
    // SAFETY: the caller vouches for `addr`.
    unsafe { asm!("str {0:w}, [{1}]", in(reg) value, in(reg) addr, options(nostack)) };
}

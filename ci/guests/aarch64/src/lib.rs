//! Pieces the in-tree aarch64 guests share: PL011 console, MMIO accessors, SMCCC calls,
//! GICv3 set-up, the generic timer and the start code's `.bss`/relocation step.
//!
//! Each binary (`heartbeat`, `bench`) has its own entry code, vectors and main; what
//! is here only assumes EL1, the MMU off and `TPIDR_EL1` = the vCPU index.
#![no_std]

pub mod console;
pub mod gic;
pub mod mmio;
pub mod smccc;
pub mod start;
pub mod timer;

use core::arch::asm;

/// Index of the calling vCPU: `TPIDR_EL1`, which every binary's start code sets.
pub fn cpu_index() -> usize {
    let idx: u64;
    // SAFETY: reads TPIDR_EL1, which the start code set to the vCPU index; no side effects.
    unsafe { asm!("mrs {}, tpidr_el1", out(reg) idx, options(nomem, nostack, preserves_flags)) };
    idx as usize
}

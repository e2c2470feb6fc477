//! The self-hosted debug registers a partition owns on its CPU, cleared at vCPU reset.
//!
//! Breakpoints, watchpoints and single step stay the guest's (MDCR_EL2.TDA clear, see
//! el2.rs): debug exceptions target EL1 and are never generated at EL2. A restarted
//! partition must not inherit its previous run's breakpoints, so a reset disables them.

use core::arch::asm;

/// Writes zero to `<prefix><n>_el1` for each listed `n` below `count`.
macro_rules! clear_numbered {
    ($count:expr, $prefix:literal, $($n:literal),*) => {
        $(
            if $n < $count {
                // SAFETY: register n exists (n is below the count ID_AA64DFR0_EL1
                // reports); a zero control disables that breakpoint or watchpoint of the
                // guest that owns this CPU.
                unsafe { asm!(concat!("msr ", $prefix, stringify!($n), "_el1, xzr")) };
            }
        )*
    };
}

/// Disables every hardware breakpoint and watchpoint and single step on this CPU.
pub fn reset() {
    let dfr0: u64;
    // SAFETY: reading ID_AA64DFR0_EL1 has no side effects.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0) };
    let breakpoints = ((dfr0 >> 12) & 0xf) as usize + 1;
    let watchpoints = ((dfr0 >> 20) & 0xf) as usize + 1;
    // SAFETY: MDSCR_EL1 = 0 turns off the guest's debug enables (MDE, KDE, SS).
    unsafe { asm!("msr mdscr_el1, xzr") };
    clear_numbered!(breakpoints, "dbgbcr", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    clear_numbered!(watchpoints, "dbgwcr", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // SAFETY: orders the writes before the guest's next instruction.
    unsafe { asm!("isb") };
}

//! Interrupt Controller List Registers `ICH_LR<n>_EL2`, n = 0..15, IHI 0069 12.4.
//!
//! The register number is part of the instruction encoding, so access by index is a
//! `match` over aarch64-cpu's sixteen accessors. Writing is `unsafe`: a list register
//! with `HW` set lets the guest deactivate the physical interrupt named in `pINTID`.

use aarch64_cpu::registers::{
    ICH_LR0_EL2, ICH_LR10_EL2, ICH_LR11_EL2, ICH_LR12_EL2, ICH_LR13_EL2, ICH_LR14_EL2,
    ICH_LR15_EL2, ICH_LR1_EL2, ICH_LR2_EL2, ICH_LR3_EL2, ICH_LR4_EL2, ICH_LR5_EL2, ICH_LR6_EL2,
    ICH_LR7_EL2, ICH_LR8_EL2, ICH_LR9_EL2,
};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICH_LR [
        /// The state of the virtual interrupt.
        State OFFSET(62) NUMBITS(2) [
            Invalid = 0b00,
            Pending = 0b01,
            Active = 0b10,
            PendingAndActive = 0b11
        ],
        /// Hardware interrupt: deactivating `vINTID` also deactivates `pINTID`.
        HW OFFSET(61) NUMBITS(1) [],
        /// Group 1 (signalled as virtual IRQ) rather than Group 0 (virtual FIQ).
        Group OFFSET(60) NUMBITS(1) [],
        /// Non-maskable (FEAT_GICv3_NMI).
        NMI OFFSET(59) NUMBITS(1) [],
        /// Virtual priority.
        Priority OFFSET(48) NUMBITS(8) [],
        /// Physical INTID when `HW` is 1.
        pINTID OFFSET(32) NUMBITS(13) [],
        /// When `HW` is 0: maintenance interrupt on deactivation (bit 9 of `pINTID`).
        EOI OFFSET(41) NUMBITS(1) [],
        /// Virtual INTID seen by the guest on `ICV_IAR1_EL1`.
        vINTID OFFSET(0) NUMBITS(32) []
    ]
}

/// Reads `ICH_LR<n>_EL2`.
///
/// # Panics
/// If `n` > 15. An `n` at or beyond `ICH_VTR_EL2.ListRegs + 1` is UNDEFINED at EL2 and
/// traps; callers bound `n` by the implemented count.
pub fn read(n: usize) -> u64 {
    match n {
        0 => ICH_LR0_EL2.get(),
        1 => ICH_LR1_EL2.get(),
        2 => ICH_LR2_EL2.get(),
        3 => ICH_LR3_EL2.get(),
        4 => ICH_LR4_EL2.get(),
        5 => ICH_LR5_EL2.get(),
        6 => ICH_LR6_EL2.get(),
        7 => ICH_LR7_EL2.get(),
        8 => ICH_LR8_EL2.get(),
        9 => ICH_LR9_EL2.get(),
        10 => ICH_LR10_EL2.get(),
        11 => ICH_LR11_EL2.get(),
        12 => ICH_LR12_EL2.get(),
        13 => ICH_LR13_EL2.get(),
        14 => ICH_LR14_EL2.get(),
        15 => ICH_LR15_EL2.get(),
        _ => panic!("ICH_LR{n}_EL2 does not exist"),
    }
}

/// Writes `value` to `ICH_LR<n>_EL2`.
///
/// # Panics
/// If `n` > 15 (see [`read`] for unimplemented list registers).
///
/// # Safety
/// If `value` has `HW` set, `pINTID` must be a physical interrupt owned by the partition
/// running on this CPU and active here (acknowledged and priority-dropped by the
/// hypervisor), so that the guest can only ever deactivate its own interrupt.
pub unsafe fn write(n: usize, value: u64) {
    match n {
        0 => ICH_LR0_EL2.set(value),
        1 => ICH_LR1_EL2.set(value),
        2 => ICH_LR2_EL2.set(value),
        3 => ICH_LR3_EL2.set(value),
        4 => ICH_LR4_EL2.set(value),
        5 => ICH_LR5_EL2.set(value),
        6 => ICH_LR6_EL2.set(value),
        7 => ICH_LR7_EL2.set(value),
        8 => ICH_LR8_EL2.set(value),
        9 => ICH_LR9_EL2.set(value),
        10 => ICH_LR10_EL2.set(value),
        11 => ICH_LR11_EL2.set(value),
        12 => ICH_LR12_EL2.set(value),
        13 => ICH_LR13_EL2.set(value),
        14 => ICH_LR14_EL2.set(value),
        15 => ICH_LR15_EL2.set(value),
        _ => panic!("ICH_LR{n}_EL2 does not exist"),
    }
}

//! Interrupt Controller Hyp Control Register, IHI 0069 12.4.
//!
//! Enables the virtual CPU interface and chooses traps and maintenance interrupts.
//! aarch64-cpu's version lacks the trap bits (`TC`, `TALL0`, `TALL1`, `TSEI`).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICH_HCR_EL2 [
        /// Count of EOIs that found no matching list register.
        EOIcount OFFSET(27) NUMBITS(5) [],
        /// Directly-injected virtual interrupt mask (GICv4).
        DVIM OFFSET(15) NUMBITS(1) [],
        /// Trap EL1 writes to `ICC_DIR_EL1`/`ICV_DIR_EL1`.
        TDIR OFFSET(14) NUMBITS(1) [],
        /// Trap locally generated SEIs.
        TSEI OFFSET(13) NUMBITS(1) [],
        /// Trap EL1 accesses to Group 1 `ICC_*`/`ICV_*` registers.
        TALL1 OFFSET(12) NUMBITS(1) [],
        /// Trap EL1 accesses to Group 0 `ICC_*`/`ICV_*` registers.
        TALL0 OFFSET(11) NUMBITS(1) [],
        /// Trap EL1 accesses to common `ICC_*`/`ICV_*` registers (`ICC_SGI*R_EL1` and more).
        TC OFFSET(10) NUMBITS(1) [],
        /// EOIs of vSGIs count in `EOIcount` (GICv4.1).
        vSGIEOICount OFFSET(8) NUMBITS(1) [],
        /// Maintenance interrupt while virtual Group 1 is disabled.
        VGrp1DIE OFFSET(7) NUMBITS(1) [],
        /// Maintenance interrupt while virtual Group 1 is enabled.
        VGrp1EIE OFFSET(6) NUMBITS(1) [],
        /// Maintenance interrupt while virtual Group 0 is disabled.
        VGrp0DIE OFFSET(5) NUMBITS(1) [],
        /// Maintenance interrupt while virtual Group 0 is enabled.
        VGrp0EIE OFFSET(4) NUMBITS(1) [],
        /// Maintenance interrupt when no list register holds a pending interrupt.
        NPIE OFFSET(3) NUMBITS(1) [],
        /// Maintenance interrupt while `EOIcount` is non-zero.
        LRENPIE OFFSET(2) NUMBITS(1) [],
        /// Underflow maintenance interrupt: at most one list register is valid.
        UIE OFFSET(1) NUMBITS(1) [],
        /// Enable the virtual CPU interface.
        En OFFSET(0) NUMBITS(1) []
    ]
}

/// Accessor for `ICH_HCR_EL2`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICH_HCR_EL2::Register;

    sysreg_get!("ICH_HCR_EL2");
}

impl Writeable for Reg {
    type T = u64;
    type R = ICH_HCR_EL2::Register;

    sysreg_set!("ICH_HCR_EL2");
}

/// `ICH_HCR_EL2`: virtual CPU interface control.
pub const ICH_HCR_EL2: Reg = Reg;

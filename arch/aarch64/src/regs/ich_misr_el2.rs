//! Interrupt Controller Maintenance Interrupt State Register, IHI 0069 12.4.
//!
//! Which of the conditions enabled in `ICH_HCR_EL2` raise the maintenance interrupt now.

use tock_registers::interfaces::Readable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICH_MISR_EL2 [
        /// Virtual Group 1 disabled (`VGrp1DIE`).
        VGrp1D OFFSET(7) NUMBITS(1) [],
        /// Virtual Group 1 enabled (`VGrp1EIE`).
        VGrp1E OFFSET(6) NUMBITS(1) [],
        /// Virtual Group 0 disabled (`VGrp0DIE`).
        VGrp0D OFFSET(5) NUMBITS(1) [],
        /// Virtual Group 0 enabled (`VGrp0EIE`).
        VGrp0E OFFSET(4) NUMBITS(1) [],
        /// No pending interrupt in the list registers (`NPIE`).
        NP OFFSET(3) NUMBITS(1) [],
        /// `EOIcount` is non-zero (`LRENPIE`).
        LRENP OFFSET(2) NUMBITS(1) [],
        /// Underflow: zero or one valid list register (`UIE`).
        U OFFSET(1) NUMBITS(1) [],
        /// A list register with `EOI` set was deactivated (see `ICH_EISR_EL2`).
        EOI OFFSET(0) NUMBITS(1) []
    ]
}

/// Accessor for `ICH_MISR_EL2`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICH_MISR_EL2::Register;

    sysreg_get!("ICH_MISR_EL2");
}

/// `ICH_MISR_EL2`: pending maintenance conditions (read-only).
pub const ICH_MISR_EL2: Reg = Reg;

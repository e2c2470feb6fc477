//! Interrupt Controller Empty List Register Status Register, IHI 0069 12.4.
//!
//! Bit n is set when `ICH_LR<n>_EL2` holds no interrupt (state Invalid, and no EOI
//! maintenance request pending), i.e. it can take a new one.

use tock_registers::interfaces::Readable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICH_ELRSR_EL2 [
        /// One bit per implemented list register.
        Status OFFSET(0) NUMBITS(16) []
    ]
}

/// Accessor for `ICH_ELRSR_EL2`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICH_ELRSR_EL2::Register;

    sysreg_get!("ICH_ELRSR_EL2");
}

/// `ICH_ELRSR_EL2`: which list registers are free (read-only).
pub const ICH_ELRSR_EL2: Reg = Reg;

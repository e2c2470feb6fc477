//! Interrupt Controller Interrupt Priority Mask Register, IHI 0069 12.2.
//!
//! Only interrupts with a priority value lower than `Priority` are signalled; 0xff
//! lets every implemented priority through.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_PMR_EL1 [
        /// The priority mask.
        Priority OFFSET(0) NUMBITS(8) []
    ]
}

/// Accessor for `ICC_PMR_EL1`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICC_PMR_EL1::Register;

    sysreg_get!("ICC_PMR_EL1");
}

impl Writeable for Reg {
    type T = u64;
    type R = ICC_PMR_EL1::Register;

    sysreg_set!("ICC_PMR_EL1");
}

/// `ICC_PMR_EL1`: priority mask of the physical CPU interface.
pub const ICC_PMR_EL1: Reg = Reg;

//! Interrupt Controller Interrupt Group 1 Enable register, IHI 0069 12.2.
//!
//! Group 1 interrupts are signalled to this PE only while `Enable` is set.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_IGRPEN1_EL1 [
        /// Group 1 interrupts enabled at this CPU interface.
        Enable OFFSET(0) NUMBITS(1) []
    ]
}

/// Accessor for `ICC_IGRPEN1_EL1`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICC_IGRPEN1_EL1::Register;

    sysreg_get!("ICC_IGRPEN1_EL1");
}

impl Writeable for Reg {
    type T = u64;
    type R = ICC_IGRPEN1_EL1::Register;

    sysreg_set!("ICC_IGRPEN1_EL1");
}

/// `ICC_IGRPEN1_EL1`: Group 1 enable of the physical CPU interface.
pub const ICC_IGRPEN1_EL1: Reg = Reg;

//! Interrupt Controller Interrupt Acknowledge Register 1, IHI 0069 12.2.
//!
//! Reading acknowledges the highest-priority pending Group 1 interrupt and returns its
//! INTID, or 1023 (spurious) when there is none. Every read has that side effect.

use tock_registers::interfaces::Readable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_IAR1_EL1 [
        /// The acknowledged INTID; 1020..1023 are special.
        INTID OFFSET(0) NUMBITS(24) []
    ]
}

/// Accessor for `ICC_IAR1_EL1`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICC_IAR1_EL1::Register;

    sysreg_get!("ICC_IAR1_EL1");
}

/// `ICC_IAR1_EL1`: acknowledges a Group 1 interrupt (read-only, side effect).
pub const ICC_IAR1_EL1: Reg = Reg;

//! Interrupt Controller End Of Interrupt Register 1, IHI 0069 12.2.
//!
//! Writing the INTID last read from `ICC_IAR1_EL1` drops the running priority (and
//! also deactivates it unless `ICC_CTLR_EL1.EOImode` is set).

use tock_registers::interfaces::Writeable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_EOIR1_EL1 [
        /// The INTID whose priority is dropped.
        INTID OFFSET(0) NUMBITS(24) []
    ]
}

/// Accessor for `ICC_EOIR1_EL1`.
pub struct Reg;

impl Writeable for Reg {
    type T = u64;
    type R = ICC_EOIR1_EL1::Register;

    sysreg_set!("ICC_EOIR1_EL1");
}

/// `ICC_EOIR1_EL1`: ends a Group 1 interrupt (write-only).
pub const ICC_EOIR1_EL1: Reg = Reg;

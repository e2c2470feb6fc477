//! Interrupt Controller Deactivate Interrupt Register, IHI 0069 12.2.
//!
//! With `ICC_CTLR_EL1.EOImode` set, writing an INTID deactivates it; the hypervisor
//! uses it for interrupts it handles itself (its SGIs, maintenance, timers).

use tock_registers::interfaces::Writeable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_DIR_EL1 [
        /// The INTID to deactivate.
        INTID OFFSET(0) NUMBITS(24) []
    ]
}

/// Accessor for `ICC_DIR_EL1`.
pub struct Reg;

impl Writeable for Reg {
    type T = u64;
    type R = ICC_DIR_EL1::Register;

    sysreg_set!("ICC_DIR_EL1");
}

/// `ICC_DIR_EL1`: deactivates a physical interrupt (write-only).
pub const ICC_DIR_EL1: Reg = Reg;

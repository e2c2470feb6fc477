//! Interrupt Controller Control Register (EL1), IHI 0069 12.2.
//!
//! At EL2 this is the physical interface's control: Bulkhead sets `EOImode` so that
//! `ICC_EOIR1_EL1` only drops priority and the guest's deactivation of a hardware-mapped
//! virtual interrupt (`ICH_LR<n>_EL2.HW`) deactivates the physical one. aarch64-cpu's
//! version has only `ExtRange` and no write.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_CTLR_EL1 [
        /// Extended INTID range supported (read-only).
        ExtRange OFFSET(19) NUMBITS(1) [],
        /// Range Selector Support: SGI targets with Aff0 16..255 (read-only).
        RSS OFFSET(18) NUMBITS(1) [],
        /// Affinity 3 valid in SGI generation (read-only).
        A3V OFFSET(15) NUMBITS(1) [],
        /// Local SError generation supported (read-only).
        SEIS OFFSET(14) NUMBITS(1) [],
        /// INTID bits: 0b000 16 bits, 0b001 24 bits (read-only).
        IDbits OFFSET(11) NUMBITS(3) [],
        /// Priority bits implemented, minus one (read-only).
        PRIbits OFFSET(8) NUMBITS(3) [],
        /// Priority mask hint enable.
        PMHE OFFSET(6) NUMBITS(1) [],
        /// 1: `ICC_EOIR1_EL1` drops priority only; `ICC_DIR_EL1` deactivates.
        EOImode OFFSET(1) NUMBITS(1) [],
        /// Common binary point register for both groups.
        CBPR OFFSET(0) NUMBITS(1) []
    ]
}

/// Accessor for `ICC_CTLR_EL1`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICC_CTLR_EL1::Register;

    sysreg_get!("ICC_CTLR_EL1");
}

impl Writeable for Reg {
    type T = u64;
    type R = ICC_CTLR_EL1::Register;

    sysreg_set!("ICC_CTLR_EL1");
}

/// `ICC_CTLR_EL1`: control of the physical CPU interface (EOI mode).
pub const ICC_CTLR_EL1: Reg = Reg;

//! Interrupt Controller Virtual Machine Control Register, IHI 0069 12.4.
//!
//! The guest's view of its CPU interface (`ICV_PMR_EL1`, `ICV_IGRPEN<n>_EL1`, ...);
//! saved and restored with the vCPU when several vCPUs share a physical CPU.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICH_VMCR_EL2 [
        /// Virtual priority mask (`ICV_PMR_EL1`).
        VPMR OFFSET(24) NUMBITS(8) [],
        /// Virtual binary point, Group 0.
        VBPR0 OFFSET(21) NUMBITS(3) [],
        /// Virtual binary point, Group 1.
        VBPR1 OFFSET(18) NUMBITS(3) [],
        /// Virtual EOI mode (`ICV_CTLR_EL1.EOImode`).
        VEOIM OFFSET(9) NUMBITS(1) [],
        /// Virtual common binary point.
        VCBPR OFFSET(4) NUMBITS(1) [],
        /// Virtual Group 0 as FIQ (RES1 with `ICC_SRE_EL1.SRE` = 1).
        VFIQEn OFFSET(3) NUMBITS(1) [],
        /// Virtual ack control (RES0 with system registers).
        VAckCtl OFFSET(2) NUMBITS(1) [],
        /// Virtual Group 1 enable (`ICV_IGRPEN1_EL1`).
        VENG1 OFFSET(1) NUMBITS(1) [],
        /// Virtual Group 0 enable (`ICV_IGRPEN0_EL1`).
        VENG0 OFFSET(0) NUMBITS(1) []
    ]
}

/// Accessor for `ICH_VMCR_EL2`.
pub struct Reg;

impl Readable for Reg {
    type T = u64;
    type R = ICH_VMCR_EL2::Register;

    sysreg_get!("ICH_VMCR_EL2");
}

impl Writeable for Reg {
    type T = u64;
    type R = ICH_VMCR_EL2::Register;

    sysreg_set!("ICH_VMCR_EL2");
}

/// `ICH_VMCR_EL2`: the guest's virtual CPU interface state.
pub const ICH_VMCR_EL2: Reg = Reg;

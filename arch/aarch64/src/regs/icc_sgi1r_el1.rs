//! Interrupt Controller Software Generated Interrupt Group 1 Register, IHI 0069 12.2.
//!
//! The hypervisor writes it to kick another physical CPU; a guest's writes trap to EL2
//! (`HCR_EL2.IMO`, ESR_EL2.EC 0x18) and are decoded with these fields into virtual SGIs.
//! Issue a `dsb ishst` before the write when the target must see earlier stores.

use tock_registers::interfaces::Writeable;
use tock_registers::register_bitfields;

register_bitfields! {u64,
    pub ICC_SGI1R_EL1 [
        /// Affinity level 3 of the targets.
        Aff3 OFFSET(48) NUMBITS(8) [],
        /// Range selector: `TargetList` bit n means Aff0 = RS * 16 + n.
        RS OFFSET(44) NUMBITS(4) [],
        /// Interrupt Routing Mode: 1 targets every PE except the sender.
        IRM OFFSET(40) NUMBITS(1) [],
        /// Affinity level 2 of the targets.
        Aff2 OFFSET(32) NUMBITS(8) [],
        /// The SGI, 0..15.
        INTID OFFSET(24) NUMBITS(4) [],
        /// Affinity level 1 of the targets.
        Aff1 OFFSET(16) NUMBITS(8) [],
        /// One bit per target Aff0 value within the `RS` range.
        TargetList OFFSET(0) NUMBITS(16) []
    ]
}

/// Accessor for `ICC_SGI1R_EL1`.
pub struct Reg;

impl Writeable for Reg {
    type T = u64;
    type R = ICC_SGI1R_EL1::Register;

    sysreg_set!("ICC_SGI1R_EL1");
}

/// `ICC_SGI1R_EL1`: generates a Group 1 SGI (write-only).
pub const ICC_SGI1R_EL1: Reg = Reg;

/// The `ICC_SGI1R_EL1` value that sends SGI `intid` (0..15) to the one PE whose
/// `MPIDR_EL1` is `mpidr`.
pub fn to_mpidr(mpidr: u64, intid: u32) -> u64 {
    let aff0 = mpidr & 0xff;
    (ICC_SGI1R_EL1::Aff3.val((mpidr >> 32) & 0xff)
        + ICC_SGI1R_EL1::RS.val(aff0 / 16)
        + ICC_SGI1R_EL1::Aff2.val((mpidr >> 16) & 0xff)
        + ICC_SGI1R_EL1::INTID.val(u64::from(intid & 0xf))
        + ICC_SGI1R_EL1::Aff1.val((mpidr >> 8) & 0xff)
        + ICC_SGI1R_EL1::TargetList.val(1 << (aff0 % 16)))
    .value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_mpidr_encodes_affinity_and_range() {
        // MPIDR Aff3=1 Aff2=2 Aff1=3 Aff0=0x15 (RS 1, bit 5), RES1 bit 31 set.
        let v = to_mpidr(0x01_8002_0315, 7);
        assert_eq!(
            v,
            (1 << 48) | (1 << 44) | (2 << 32) | (7 << 24) | (3 << 16) | (1 << 5)
        );
        assert_eq!(to_mpidr(0x8000_0000, 0), 1);
    }
}

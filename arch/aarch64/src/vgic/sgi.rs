//! Decoding a guest's `ICC_SGI1R_EL1` write into virtual SGI targets.

use tock_registers::LocalRegisterCopy;

use crate::regs::ICC_SGI1R_EL1;

/// Decodes a trapped write of `value` to `ICC_SGI1R_EL1` by vCPU `sender` of a partition
/// with `vcpu_count` vCPUs into the SGI INTID (0..15) and the bitmask of target vCPUs
/// (bit i = vCPU i).
///
/// Targets are virtual affinities: vCPU i is Aff3.Aff2.Aff1.Aff0 = 0.0.0.i. IRM = 1 sends
/// to every vCPU but the sender (IHI 0069 12.2). Affinities naming no vCPU are dropped,
/// as the architecture does for PEs that do not exist.
pub fn sgi_targets(value: u64, sender: usize, vcpu_count: usize) -> (u32, u64) {
    let r = LocalRegisterCopy::<u64, ICC_SGI1R_EL1::Register>::new(value);
    let intid = r.read(ICC_SGI1R_EL1::INTID) as u32;
    let all = 1u64.checked_shl(vcpu_count as u32).map_or(!0, |b| b - 1);
    if r.is_set(ICC_SGI1R_EL1::IRM) {
        let me = 1u64.checked_shl(sender as u32).unwrap_or(0);
        return (intid, all & !me);
    }
    let upper =
        r.read(ICC_SGI1R_EL1::Aff3) | r.read(ICC_SGI1R_EL1::Aff2) | r.read(ICC_SGI1R_EL1::Aff1);
    if upper != 0 {
        return (intid, 0);
    }
    let first_aff0 = 16 * r.read(ICC_SGI1R_EL1::RS) as u32;
    let targets = r
        .read(ICC_SGI1R_EL1::TargetList)
        .checked_shl(first_aff0)
        .unwrap_or(0);
    (intid, targets & all)
}

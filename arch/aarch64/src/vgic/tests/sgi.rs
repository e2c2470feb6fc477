//! Decoding trapped `ICC_SGI1R_EL1` writes.

use crate::vgic::{sgi_targets, vmpidr};

fn sgi1r(intid: u64, aff1: u64, rs: u64, irm: bool, targets: u64) -> u64 {
    (rs << 44) | (u64::from(irm) << 40) | (intid << 24) | (aff1 << 16) | targets
}

#[test]
fn target_list_names_vcpus() {
    assert_eq!(sgi_targets(sgi1r(3, 0, 0, false, 0b101), 0, 4), (3, 0b101));
    assert_eq!(
        sgi_targets(sgi1r(15, 0, 0, false, 0xffff), 1, 4),
        (15, 0b1111),
        "beyond 4 dropped"
    );
}

#[test]
fn irm_targets_everyone_but_the_sender() {
    assert_eq!(sgi_targets(sgi1r(0, 0, 0, true, 0), 1, 4), (0, 0b1101));
    assert_eq!(sgi_targets(sgi1r(0, 0, 0, true, 0), 0, 1), (0, 0));
}

#[test]
fn other_affinities_and_ranges_name_no_vcpu() {
    assert_eq!(
        sgi_targets(sgi1r(2, 1, 0, false, 1), 0, 4),
        (2, 0),
        "Aff1 = 1"
    );
    assert_eq!(
        sgi_targets(sgi1r(2, 0, 1, false, 1), 0, 16),
        (2, 0),
        "RS = 1: Aff0 16"
    );
    assert_eq!(sgi_targets(2 << 32 | 1, 0, 4).1, 0, "Aff2 = 2");
}

#[test]
fn vmpidr_is_the_vcpu_index() {
    assert_eq!(vmpidr(0), 0x8000_0000);
    assert_eq!(vmpidr(3), 0x8000_0003);
}

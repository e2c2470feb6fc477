//! Re-sampling marked level-sensitive hardware interrupts.

use super::fake::FakeLrs;
use crate::vgic::{inject_virtual, resample, ListReg, LrState};

/// A pending hardware-mapped SPI in list register `n` of `lrs`.
fn hw_pending(lrs: &mut FakeLrs, n: usize, intid: u32) {
    lrs.0[n] = ListReg::pending(intid, 0xa0).with_hw(intid);
}

#[test]
fn a_deasserted_line_is_dropped_and_deactivated() {
    let mut lrs = FakeLrs::new(4);
    hw_pending(&mut lrs, 1, 34);
    let mut deactivated = Vec::new();
    let dropped = resample(&mut lrs, 1 << 1, |_| false, |p| deactivated.push(p));
    assert_eq!((dropped, deactivated), (1, vec![34]));
    assert_eq!(lrs.0[1].state(), LrState::Invalid);
    assert_eq!(lrs.0[1].hw(), None, "no hardware link left behind");
}

#[test]
fn an_asserted_line_stays_for_the_guest() {
    let mut lrs = FakeLrs::new(4);
    hw_pending(&mut lrs, 0, 34);
    let before = lrs.0[0];
    let mut asked = Vec::new();
    let dropped = resample(
        &mut lrs,
        1,
        |p| {
            asked.push(p);
            true
        },
        |_| panic!("deactivated"),
    );
    assert_eq!((dropped, asked), (0, vec![34]));
    assert_eq!(lrs.0[0], before);
}

#[test]
fn only_marked_pending_hardware_registers_are_looked_at() {
    let mut lrs = FakeLrs::new(4);
    hw_pending(&mut lrs, 0, 40); // not marked
    hw_pending(&mut lrs, 1, 41);
    lrs.0[1] = lrs.0[1].with_state(LrState::Active); // the guest acknowledged it
    assert_eq!(inject_virtual(&mut lrs, 5, 0xa0), Ok(2)); // an SGI: no hardware link
    let before = lrs.0.clone();
    let dropped = resample(&mut lrs, 0b1110, |_| false, |p| panic!("deactivated {p}"));
    assert_eq!(dropped, 0);
    assert_eq!(lrs.0, before);
    // Marks beyond the implemented list registers are ignored.
    assert_eq!(
        resample(&mut lrs, 0xfff0, |_| false, |p| panic!("deactivated {p}")),
        0
    );
}

#[test]
fn several_marked_registers_are_each_resampled() {
    let mut lrs = FakeLrs::new(4);
    hw_pending(&mut lrs, 0, 30); // the physical timer's PPI
    hw_pending(&mut lrs, 3, 34);
    let mut deactivated = Vec::new();
    let dropped = resample(&mut lrs, 0b1001, |p| p == 30, |p| deactivated.push(p));
    assert_eq!((dropped, deactivated), (1, vec![34]));
    assert_eq!(lrs.0[0].hw(), Some(30));
    assert_eq!(lrs.0[3].state(), LrState::Invalid);
}

//! List register encoding, injection and the pending queue.

use super::fake::FakeLrs;
use crate::vgic::{inject, inject_virtual, Full, ListReg, LrState, PendingIrqs};

#[test]
fn encode_hardware_mapped_interrupt() {
    let lr = ListReg::pending(27, 0xa0).with_hw(27);
    let want = (0b01 << 62) | (1 << 61) | (1 << 60) | (0xa0 << 48) | (27 << 32) | 27;
    assert_eq!(lr.raw(), want);
    assert_eq!((lr.vintid(), lr.priority(), lr.hw()), (27, 0xa0, Some(27)));
    assert!(lr.is_group1());
    assert_eq!(lr.state(), LrState::Pending);
}

#[test]
fn encode_virtual_interrupt_and_states() {
    let lr = ListReg::pending(3, 0x80).with_group1(false);
    assert_eq!(lr.raw(), (1 << 62) | (0x80 << 48) | 3);
    assert_eq!(lr.hw(), None);
    assert_eq!(lr.with_state(LrState::Active).raw() >> 62, 0b10);
    assert_eq!(lr.with_state(LrState::PendingActive).raw() >> 62, 0b11);
    assert_eq!(lr.with_state(LrState::Invalid).raw() >> 62, 0);
    assert_eq!(
        ListReg::from_raw(0x8000_0000_0000_0000).state(),
        LrState::Active
    );
    assert_eq!(
        ListReg::pending(1019, 0).with_hw(1019).raw() >> 32 & 0x1fff,
        1019
    );
}

#[test]
fn inject_uses_free_registers_until_full() {
    let mut lrs = FakeLrs::new(2);
    assert_eq!(inject_virtual(&mut lrs, 1, 0xa0), Ok(0));
    // SAFETY: fake list registers; no physical interrupt behind the mapping.
    assert_eq!(unsafe { inject(&mut lrs, 40, 0x80, Some(40)) }, Ok(1));
    assert_eq!(lrs.0[1].hw(), Some(40));
    assert_eq!(inject_virtual(&mut lrs, 2, 0xa0), Err(Full));
    lrs.0[0] = lrs.0[0].with_state(LrState::Invalid);
    assert_eq!(inject_virtual(&mut lrs, 2, 0xa0), Ok(0));
}

#[test]
fn inject_reuses_the_register_holding_the_same_intid() {
    let mut lrs = FakeLrs::new(4);
    assert_eq!(inject_virtual(&mut lrs, 5, 0xa0), Ok(0));
    assert_eq!(inject_virtual(&mut lrs, 5, 0xa0), Ok(0));
    assert_eq!(lrs.0[0].state(), LrState::Pending);
    lrs.0[0] = lrs.0[0].with_state(LrState::Active);
    assert_eq!(inject_virtual(&mut lrs, 5, 0xa0), Ok(0));
    assert_eq!(lrs.0[0].state(), LrState::PendingActive);
    assert_eq!(lrs.0[1].state(), LrState::Invalid);
}

#[test]
fn pending_queue_drains_and_keeps_what_does_not_fit() {
    let q = PendingIrqs::new();
    assert!(q.post(1) && q.post(7) && q.post(40));
    assert!(!q.post(7), "already queued");
    let mut lrs = FakeLrs::new(1);
    // SAFETY: `lookup` maps nothing to hardware.
    let r = unsafe { q.drain(&mut lrs, |i| (i != 1).then_some((0xa0, None))) };
    assert_eq!(r, Err(Full));
    assert_eq!(lrs.0[0].vintid(), 7);
    assert!(q.is_pending(1), "lookup said keep");
    assert!(!q.is_pending(7) && q.is_pending(40));
    lrs.0[0] = lrs.0[0].with_state(LrState::Invalid);
    q.cancel(40);
    // SAFETY: as above.
    assert_eq!(unsafe { q.drain(&mut lrs, |_| Some((0xa0, None))) }, Ok(1));
    assert_eq!(lrs.0[0].vintid(), 1);
    assert!(q.is_empty());
}

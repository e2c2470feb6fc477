use super::*;

fn enabled(id: u32) -> VLapic {
    let mut l = VLapic::new(id);
    l.write(SVR, 0x1ff, 0).unwrap();
    l
}

#[test]
fn tsc_deadline_timer_fires_once_at_its_deadline() {
    let mut l = enabled(0);
    l.write(LVT_TIMER, u64::from(0x40 | TIMER_TSC_DEADLINE), 0).unwrap();
    assert_eq!(l.write(MSR_TSC_DEADLINE, 1000, 0), Ok(Effect::Timer));
    assert_eq!(l.deadline(), Some(1000));
    l.expire(999);
    assert_eq!(l.pending(), None);
    l.expire(1000);
    assert_eq!(l.pending(), Some(0x40));
    assert_eq!(l.deadline(), None, "one shot");
    l.ack(0x40);
    assert_eq!(l.pending(), None, "in service");
    assert_eq!(l.write(EOI, 0, 0), Ok(Effect::None));
}

#[test]
fn periodic_timer_rearms_from_its_deadline_and_counts_down() {
    let mut l = enabled(0);
    l.write(LVT_TIMER, u64::from(0x41 | TIMER_PERIODIC), 0).unwrap();
    l.write(TIMER_DIVIDE, 0xb, 0).unwrap(); // divide by 1
    l.write(TIMER_INITIAL, 100, 50).unwrap();
    assert_eq!(l.deadline(), Some(150));
    assert_eq!(l.read(TIMER_CURRENT, 100), Ok(50));
    l.expire(160);
    assert_eq!(l.deadline(), Some(250));
    l.expire(480); // two periods missed
    assert_eq!(l.deadline(), Some(550));
}

#[test]
fn priority_tpr_and_isr_gate_injection() {
    let mut l = enabled(0);
    l.accept(0x50, false);
    l.accept(0x30, false);
    assert_eq!(l.pending(), Some(0x50));
    l.ack(0x50);
    assert_eq!(l.pending(), None, "0x30 is below the in-service class");
    l.write(EOI, 0, 0).unwrap();
    assert_eq!(l.pending(), Some(0x30));
    l.write(TPR, 0x30, 0).unwrap();
    assert_eq!(l.pending(), None, "masked by TPR");
}

#[test]
fn level_interrupts_report_their_eoi() {
    let mut l = enabled(0);
    l.accept(0x61, true);
    l.ack(0x61);
    assert_eq!(l.write(EOI, 0, 0), Ok(Effect::LevelEoi(0x61)));
}

#[test]
fn icr_decodes_ipis_and_inbox_merges() {
    let mut l = enabled(1);
    let fixed = l.write(ICR, (3u64 << 32) | 0x45, 0).unwrap();
    assert_eq!(fixed, Effect::Ipi(Dest::Id { id: 3, logical: false }, Delivery::Fixed(0x45)));
    assert_eq!(l.write(ICR, (2 << 18) | 0x46, 0).unwrap(), Effect::Ipi(Dest::All, Delivery::Fixed(0x46)));
    assert_eq!(l.write(ICR, (1u64 << 32) | 0x4500, 0).unwrap(), Effect::Ipi(Dest::Id { id: 1, logical: false }, Delivery::Init));
    assert_eq!(l.write(ICR, (1u64 << 32) | 0x4612, 0).unwrap(), Effect::Ipi(Dest::Id { id: 1, logical: false }, Delivery::Startup(0x12)));
    assert!(matches(Dest::AllButSelf, 1, 0) && !matches(Dest::AllButSelf, 1, 1));
    assert!(matches(Dest::Id { id: 0b100, logical: true }, 0, 2), "cluster 0, bit 2");
    assert!(!matches(Dest::Id { id: (1 << 16) | 0b100, logical: true }, 0, 2), "cluster 1");
    let inbox = Inbox::new();
    assert!(inbox.post(0x70, false));
    assert!(!inbox.post(0x70, false));
    inbox.post(3, false); // illegal vector: dropped at merge
    l.merge(&inbox);
    assert_eq!(l.pending(), Some(0x70));
    assert!(inbox.is_empty());
}

#[test]
fn a_posted_level_interrupt_reaches_the_io_apic_at_its_eoi() {
    let mut l = enabled(0);
    let inbox = Inbox::new();
    inbox.post(0x60, true);
    inbox.post(0x50, false);
    l.merge(&inbox);
    assert_eq!(l.pending(), Some(0x60));
    l.ack(0x60);
    assert_eq!(l.write(EOI, 0, 0).unwrap(), Effect::LevelEoi(0x60), "TMR was set");
    assert_eq!(l.pending(), Some(0x50));
    l.ack(0x50);
    assert_eq!(l.write(EOI, 0, 0).unwrap(), Effect::None, "edge: no EOI to the I/O APIC");
}

#[test]
fn unknown_registers_are_gp_and_a_disabled_apic_injects_nothing() {
    let mut l = VLapic::new(0);
    assert_eq!(l.read(0x8ff, 0), Err(Gp));
    assert_eq!(l.write(0x802, 5, 0), Err(Gp), "the id is read-only");
    l.accept(0x40, false);
    assert_eq!(l.pending(), None);
}

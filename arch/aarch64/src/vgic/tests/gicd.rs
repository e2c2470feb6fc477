//! Emulated distributor: visibility, pass-through, routing, identification, access sizes.

use super::fake::{Call, FakeGic};
use crate::vgic::PhysGic;
use crate::vgic::{BadAccess, ConfigError, VGicDistributor, IIDR};

const PCPU0: u64 = 0x8000_0002;
const PCPU1: u64 = 0x8000_0003;
const CTLR: u64 = 0x0000;
const ISENABLER1: u64 = 0x0104;
const ICENABLER1: u64 = 0x0184;
const ISPENDR1: u64 = 0x0204;

/// A two-vCPU partition owning SPIs 33 and 40, reset, with both groups enabled.
fn setup() -> (VGicDistributor, FakeGic) {
    let phys = FakeGic::new(2);
    let mut d = VGicDistributor::new(&[33, 40], &[PCPU0, PCPU1]).unwrap();
    d.reset(&phys);
    d.write(CTLR, 4, 0x13, &phys).unwrap();
    phys.take();
    (d, phys)
}

fn irouter(intid: u64) -> u64 {
    0x6000 + 8 * intid
}

#[test]
fn reset_parks_owned_spis_on_vcpu0() {
    let phys = FakeGic::new(2);
    let mut d = VGicDistributor::new(&[33], &[PCPU0, PCPU1]).unwrap();
    d.reset(&phys);
    let calls = phys.take();
    assert!(calls.contains(&Call::SpiEnable(33, false)));
    assert!(calls.contains(&Call::SpiRoute(33, PCPU0)));
    assert!(calls
        .iter()
        .all(|c| !matches!(c, Call::SpiEnable(i, _) | Call::SpiRoute(i, _) if *i != 33)));
}

#[test]
fn own_spi_enable_reaches_physical() {
    let (mut d, phys) = setup();
    d.write(ISENABLER1, 4, 1 << 1, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiEnable(33, true)]);
    assert_eq!(d.read(ISENABLER1, 4, &phys), Ok(1 << 1));
    assert_eq!(d.read(ICENABLER1, 4, &phys), Ok(1 << 1));
    assert!(d.is_forwarding(33));
    d.write(ICENABLER1, 4, !0, &phys).unwrap();
    assert_eq!(
        phys.take(),
        vec![Call::SpiEnable(33, false), Call::SpiEnable(40, false)]
    );
    assert_eq!(d.foreign_writes(), 0, "clearing everything is not a poke");
}

#[test]
fn enable_waits_for_the_distributor_and_group() {
    let (mut d, phys) = setup();
    d.write(CTLR, 4, 0, &phys).unwrap();
    phys.take();
    d.write(ISENABLER1, 4, 1 << 1, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiEnable(33, false)]);
    d.write(CTLR, 4, 0x2, &phys).unwrap(); // EnableGrp1
    assert_eq!(
        phys.take(),
        vec![Call::SpiEnable(33, true), Call::SpiEnable(40, false)]
    );
    d.write(0x0084, 4, 0, &phys).unwrap(); // IGROUPR1: SPIs to Group 0, which is off
    assert!(phys.take().contains(&Call::SpiEnable(33, false)));
    assert_eq!(d.read(0x0084, 4, &phys), Ok(0));
}

#[test]
fn foreign_spi_reads_zero_and_writes_are_ignored_and_counted() {
    let (mut d, phys) = setup();
    d.write(ISENABLER1, 4, 1 << 2, &phys).unwrap(); // SPI 34: not ours
    d.write(ISPENDR1, 4, 1 << 2, &phys).unwrap();
    d.write(0x0400 + 34, 1, 0x10, &phys).unwrap(); // its priority
    d.write(irouter(34), 8, 1, &phys).unwrap();
    assert_eq!(phys.take(), vec![]);
    assert_eq!(d.foreign_writes(), 2);
    assert_eq!(d.read(ISENABLER1, 4, &phys), Ok(0));
    assert_eq!(d.read(0x0400 + 34, 1, &phys), Ok(0));
    assert_eq!(d.read(irouter(34), 8, &phys), Ok(0));
}

#[test]
fn sgis_and_ppis_are_raz_wi_in_the_distributor() {
    let (mut d, phys) = setup();
    d.write(0x0100, 4, !0, &phys).unwrap(); // GICD_ISENABLER0
    d.write(0x0400 + 27, 1, 0, &phys).unwrap();
    assert_eq!(phys.take(), vec![]);
    assert_eq!(d.foreign_writes(), 0);
    assert_eq!(d.read(0x0100, 4, &phys), Ok(0));
    assert_eq!(d.read(irouter(27), 8, &phys), Ok(0));
}

#[test]
fn pending_and_active_pass_through_and_read_back_masked() {
    let (mut d, phys) = setup();
    d.write(ISPENDR1, 4, (1 << 1) | (1 << 8), &phys).unwrap();
    d.write(0x0384, 4, 1 << 8, &phys).unwrap(); // ICACTIVER1: SPI 40
    assert_eq!(
        phys.take(),
        vec![
            Call::SpiPending(33, true),
            Call::SpiPending(40, true),
            Call::SpiActive(40, false)
        ]
    );
    phys.spi_pending(34, true); // another partition's SPI pending physically
    assert_eq!(d.read(ISPENDR1, 4, &phys), Ok((1 << 1) | (1 << 8)));
    d.write(0x0284, 4, 1 << 1, &phys).unwrap(); // ICPENDR1
    assert_eq!(d.read(ISPENDR1, 4, &phys), Ok(1 << 8));
}

#[test]
fn priorities_by_byte_and_word() {
    let (mut d, phys) = setup();
    d.write(0x0400 + 33, 1, 0x80, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiPriority(33, 0x80)]);
    // Word at INTIDs 32..35: only 33 is ours.
    assert_eq!(d.read(0x0420, 4, &phys), Ok(0x80 << 8));
    d.write(0x0420, 4, 0x4030_2010, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiPriority(33, 0x20)]);
    assert_eq!(d.priority(33), 0x20);
}

#[test]
fn config_changes_reach_physical_once() {
    let (mut d, phys) = setup();
    // GICD_ICFGR2 covers INTIDs 32..47: 33 at bit 3, 40 at bit 17, 34 at bit 5.
    d.write(0x0c08, 4, (1 << 3) | (1 << 5), &phys).unwrap();
    d.write(0x0c08, 4, (1 << 3) | (1 << 5), &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiConfig(33, true)]);
    assert_eq!(d.read(0x0c08, 4, &phys), Ok(1 << 3));
}

#[test]
fn irouter_names_vcpus_and_routes_to_their_pcpus() {
    let (mut d, phys) = setup();
    d.write(irouter(33), 8, 1, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::SpiRoute(33, PCPU1)]);
    assert_eq!(d.read(irouter(33), 8, &phys), Ok(1));
    assert_eq!(d.target_vcpu(33), 1);
    d.write(irouter(33), 8, 1 << 31, &phys).unwrap(); // IRM: 1 of N
    d.write(irouter(40), 4, 5, &phys).unwrap(); // vCPU 5 does not exist
    assert_eq!(
        phys.take(),
        vec![Call::SpiRoute(33, PCPU0), Call::SpiRoute(40, PCPU0)]
    );
    assert_eq!(d.read(irouter(40), 4, &phys), Ok(5));
    d.write(irouter(40) + 4, 4, 0xff, &phys).unwrap(); // Aff3: RES0
    assert_eq!(d.read(irouter(40) + 4, 4, &phys), Ok(0));
    d.write(irouter(40), 8, 0x0101, &phys).unwrap(); // Aff1 = 1: no such vCPU
    assert_eq!(d.target_vcpu(40), 0);
}

#[test]
fn identification_registers() {
    let (d, phys) = setup();
    // ITLinesNumber 2 from physical, CPUNumber 1 (two vCPUs), IDbits 9, no LPIs.
    assert_eq!(d.read(0x0004, 4, &phys), Ok(0x0048_0022));
    assert_eq!(d.read(0x0008, 4, &phys), Ok(u64::from(IIDR)));
    assert_eq!(d.read(0xffe8, 4, &phys), Ok(0x3b));
    assert_eq!(d.read(0xffe8, 4, &phys).unwrap() >> 4 & 0xf, 3, "ArchRev");
    assert_eq!(d.read(0x000c, 4, &phys), Ok(0), "GICD_TYPER2");
    assert_eq!(d.read(CTLR, 4, &phys), Ok(0x53), "DS | ARE | both groups");
    assert_eq!(
        d.read(0x0d04, 4, &phys),
        Ok(0),
        "GICD_IGRPMODR: RAZ with DS = 1"
    );
}

#[test]
fn bad_access_sizes_are_refused() {
    let (mut d, phys) = setup();
    let bad = |offset, size| BadAccess { offset, size };
    assert_eq!(d.read(CTLR, 8, &phys), Err(bad(CTLR, 8)));
    assert_eq!(d.read(ISENABLER1, 1, &phys), Err(bad(ISENABLER1, 1)));
    assert_eq!(d.read(0x0421, 2, &phys), Err(bad(0x0421, 2)));
    assert_eq!(d.write(0x0102, 4, 0, &phys), Err(bad(0x0102, 4)));
    assert_eq!(
        d.write(irouter(33) + 4, 8, 0, &phys),
        Err(bad(irouter(33) + 4, 8))
    );
    assert_eq!(d.write(0x0c08, 2, 0, &phys), Err(bad(0x0c08, 2)));
    assert!(d.read(0x0421, 1, &phys).is_ok());
    assert!(d.read(irouter(33), 8, &phys).is_ok());
    assert_eq!(phys.take(), vec![]);
}

#[test]
fn construction_is_checked() {
    assert_eq!(
        VGicDistributor::new(&[16], &[0]).err(),
        Some(ConfigError::NotAnSpi(16))
    );
    assert_eq!(
        VGicDistributor::new(&[1020], &[0]).err(),
        Some(ConfigError::NotAnSpi(1020))
    );
    assert_eq!(
        VGicDistributor::new(&[33], &[]).err(),
        Some(ConfigError::NoVcpus)
    );
    assert_eq!(
        VGicDistributor::new(&[33], &[0; 17]).err(),
        Some(ConfigError::TooManyVcpus(17))
    );
}

//! Emulated redistributors: frame lookup, identification, WAKER, PPI pass-through.

use super::fake::{Call, FakeGic};
use crate::vgic::PhysGic;
use crate::vgic::{locate, BadAccess, ConfigError, VGicRedistributor, GICR_FRAME_SIZE};

const SGI: u64 = 0x1_0000;
const PCPU: u64 = 0x8000_0003;

fn frames(n: usize) -> Vec<VGicRedistributor> {
    (0..n)
        .map(|i| VGicRedistributor::new(i, n, 0x8000_0000 | i as u64, 0).unwrap())
        .collect()
}

#[test]
fn locate_stops_after_the_last_frame() {
    assert_eq!(locate(0, 3), Some((0, 0)));
    assert_eq!(
        locate(GICR_FRAME_SIZE + SGI + 0x100, 3),
        Some((1, SGI + 0x100))
    );
    assert_eq!(
        locate(3 * GICR_FRAME_SIZE - 4, 3),
        Some((2, GICR_FRAME_SIZE - 4))
    );
    assert_eq!(locate(3 * GICR_FRAME_SIZE, 3), None);
}

#[test]
fn typer_sets_last_only_on_the_last_frame() {
    let phys = FakeGic::new(2);
    let rds = frames(3);
    for (i, rd) in rds.iter().enumerate() {
        let i = i as u64;
        let last = if i == 2 { 1 << 4 } else { 0 };
        assert_eq!(rd.read(0x8, 8, &phys), Ok((i << 32) | (i << 8) | last));
        assert_eq!(rd.read(0x8, 4, &phys), Ok((i << 8) | last));
        assert_eq!(rd.read(0xc, 4, &phys), Ok(i));
    }
    let single = VGicRedistributor::new(0, 1, PCPU, 0).unwrap();
    assert_eq!(
        single.read(0x8, 8, &phys),
        Ok(1 << 4),
        "1 vCPU: frame 0 is Last"
    );
}

#[test]
fn identification_and_fixed_registers() {
    let phys = FakeGic::new(2);
    let rd = &frames(1)[0];
    assert_eq!(rd.read(0xffe8, 4, &phys), Ok(0x3b));
    assert_eq!(
        rd.read(0x0000, 4, &phys),
        Ok(0),
        "GICR_CTLR: no LPIs, RWP clear"
    );
    assert_eq!(
        rd.read(SGI + 0xc00, 4, &phys),
        Ok(0xaaaa_aaaa),
        "SGIs are edge"
    );
    assert_eq!(rd.read(0x0070, 8, &phys), Ok(0), "GICR_PROPBASER");
}

#[test]
fn waker_handshake() {
    let phys = FakeGic::new(2);
    let mut rd = VGicRedistributor::new(0, 1, PCPU, 0).unwrap();
    assert_eq!(rd.read(0x14, 4, &phys), Ok(0b110), "asleep after reset");
    rd.write(0x14, 4, 0, &phys).unwrap();
    assert_eq!(
        rd.read(0x14, 4, &phys),
        Ok(0),
        "ChildrenAsleep follows ProcessorSleep"
    );
    assert!(rd.is_awake());
    rd.write(0x14, 4, 0b10, &phys).unwrap();
    assert_eq!(rd.read(0x14, 4, &phys), Ok(0b110));
}

#[test]
fn timer_ppi_enables_reach_the_right_pcpu() {
    let phys = FakeGic::new(2);
    let mut rd = VGicRedistributor::new(1, 2, PCPU, 0).unwrap();
    let value = (1 << 27) | (1 << 30) | (1 << 1); // vtimer, phys timer, SGI 1
    rd.write(SGI + 0x100, 4, value, &phys).unwrap();
    assert_eq!(
        phys.take(),
        vec![
            Call::PpiEnable(PCPU, 27, true),
            Call::PpiEnable(PCPU, 30, true)
        ],
        "both EL1 timers are the partition's; the SGI stays virtual"
    );
    assert_eq!(
        rd.read(SGI + 0x100, 4, &phys),
        Ok(value),
        "all enabled in the guest's view"
    );
    assert!(rd.is_enabled(1) && rd.is_enabled(30));
    rd.write(SGI + 0x180, 4, 1 << 27, &phys).unwrap();
    assert_eq!(phys.take(), vec![Call::PpiEnable(PCPU, 27, false)]);
    rd.write(SGI + 0x400 + 27, 1, 0x90, &phys).unwrap();
    rd.write(SGI + 0x400 + 1, 1, 0x10, &phys).unwrap(); // SGI priority: virtual only
    assert_eq!(phys.take(), vec![Call::PpiPriority(PCPU, 27, 0x90)]);
    assert_eq!(rd.read(SGI + 0x400, 4, &phys), Ok(0xa0a0_10a0));
}

#[test]
fn allowed_ppis_pass_through_and_pending_reads_are_masked() {
    let phys = FakeGic::new(2);
    let mut rd = VGicRedistributor::new(0, 1, PCPU, 1 << 23).unwrap();
    rd.write(SGI + 0x200, 4, (1 << 23) | (1 << 26), &phys)
        .unwrap(); // ISPENDR0
    assert_eq!(phys.take(), vec![Call::PpiPending(PCPU, 23, true)]);
    phys.ppi_pending(PCPU, 26, true); // the hypervisor's own PPI
    assert_eq!(rd.read(SGI + 0x200, 4, &phys), Ok(1 << 23));
}

#[test]
fn reset_quiesces_passthrough_ppis() {
    let phys = FakeGic::new(2);
    let mut rd = VGicRedistributor::new(0, 1, PCPU, 0).unwrap();
    rd.reset(&phys);
    let calls = phys.take();
    assert!(calls.contains(&Call::PpiEnable(PCPU, 27, false)));
    assert!(calls.contains(&Call::PpiEnable(PCPU, 30, false)));
    assert!(calls.contains(&Call::PpiPending(PCPU, 30, false)));
    assert!(calls.contains(&Call::PpiActive(PCPU, 30, false)));
    assert!(calls
        .iter()
        .all(|c| !matches!(c, Call::PpiEnable(_, i, _) if *i != 27 && *i != 30)));
}

#[test]
fn bad_sizes_and_configuration_are_refused() {
    let phys = FakeGic::new(2);
    let mut rd = VGicRedistributor::new(0, 1, PCPU, 0).unwrap();
    assert_eq!(
        rd.read(0x8, 2, &phys),
        Err(BadAccess {
            offset: 0x8,
            size: 2
        })
    );
    assert_eq!(
        rd.read(0xc, 8, &phys),
        Err(BadAccess {
            offset: 0xc,
            size: 8
        })
    );
    assert_eq!(
        rd.write(0x14, 8, 0, &phys),
        Err(BadAccess {
            offset: 0x14,
            size: 8
        })
    );
    assert_eq!(
        rd.write(SGI + 0x100, 1, 0, &phys),
        Err(BadAccess {
            offset: SGI + 0x100,
            size: 1
        })
    );
    assert_eq!(
        VGicRedistributor::new(0, 1, PCPU, 1 << 3).err(),
        Some(ConfigError::NotAPpi(3))
    );
    assert_eq!(
        VGicRedistributor::new(2, 2, PCPU, 0).err(),
        Some(ConfigError::NoSuchVcpu(2))
    );
}

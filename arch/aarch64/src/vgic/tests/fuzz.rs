//! Property tests: random guest accesses to one partition's vGIC never panic and never
//! reach another partition's interrupts, CPUs or registers.
//!
//! Two partitions share one physical GIC (the fake), as on the machine: disjoint SPIs,
//! disjoint physical CPUs, different vCPU counts. Partition B is driven into some state,
//! then partition A gets a random sequence of loads, stores and resets: offsets across
//! and beyond its GICD and GICR windows, every access size, aligned or not. Every call A
//! makes on the physical GIC must name A's own SPIs, PPIs and CPUs; A's reads must show
//! nothing of other partitions' SPIs; afterwards every B register read through B's own
//! MMIO view, and the physical state of B's interrupts, are as they were.
//!
//! The vGIC's MMIO handlers take no vCPU index: the GICR frame is chosen by offset
//! ([`locate`]), so "vCPU out of range" is a GICR offset past the last frame, which
//! must reach nothing. [`sgi_targets`] does take one and is fuzzed with senders and
//! vCPU counts out of range.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;

use super::fake::{Call, FakeGic};
use crate::vgic::{
    locate, sgi_targets, BadAccess, PhysGic, VGicDistributor, VGicRedistributor, GICR_FRAME_SIZE,
    MAX_VCPUS, TIMER_PPIS,
};

/// `GICD_TYPER.ITLinesNumber` of the fake: every INTID up to 1023 exists physically.
const IT_LINES: u32 = 31;
/// Cases per property; each runs up to [`MAX_OPS`] accesses on each partition.
const CASES: u32 = 256;
const MAX_OPS: usize = 64;

/// [`CASES`] cases from the cheap XorShift generator: in unoptimised test builds the
/// default ChaCha generator costs more than the accesses it drives.
fn config() -> ProptestConfig {
    ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(CASES)
    }
}

/// One partition's interrupt assignment.
#[derive(Clone, Debug)]
struct Config {
    spis: Vec<u32>,
    /// `MPIDR_EL1` of the physical CPU running each vCPU.
    pcpus: Vec<u64>,
    /// PPIs passed through besides the two timers (bit n = INTID n).
    ppis: u32,
    /// An SPI the guest is told about but does not own (an emulated device's line).
    quiet: Option<u32>,
}

impl Config {
    /// Whether a physical GIC call touches only interrupts and CPUs of this partition.
    fn owns(&self, call: &Call) -> bool {
        let spi = |i: &u32| self.spis.contains(i);
        let ppi = |pcpu: &u64, i: &u32| {
            let mask = self.ppis | TIMER_PPIS;
            self.pcpus.contains(pcpu) && 1u32.checked_shl(*i).is_some_and(|b| mask & b != 0)
        };
        match call {
            Call::SpiEnable(i, _)
            | Call::SpiPriority(i, _)
            | Call::SpiConfig(i, _)
            | Call::SpiPending(i, _)
            | Call::SpiActive(i, _) => spi(i),
            Call::SpiRoute(i, pcpu) => spi(i) && self.pcpus.contains(pcpu),
            Call::PpiEnable(pcpu, i, _)
            | Call::PpiPriority(pcpu, i, _)
            | Call::PpiPending(pcpu, i, _)
            | Call::PpiActive(pcpu, i, _) => ppi(pcpu, i),
        }
    }

    /// Bit i set: the partition owns SPI 32n + i.
    fn spi_word(&self, n: u64) -> u32 {
        (self.spis.iter())
            .filter(|&&i| u64::from(i / 32) == n)
            .fold(0, |acc, i| acc | 1 << (i % 32))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Gicd,
    Gicr,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A guest load (`write` = `None`) or store at `offset` into its `frame` window.
    Access {
        frame: Frame,
        offset: u64,
        size: u8,
        write: Option<u64>,
    },
    /// The partition restarts (`SYSTEM_RESET`): distributor and redistributors reset.
    Reset,
}

/// What a guest access came to: `None` past the last redistributor frame (the runtime
/// refuses it without reaching the vGIC).
type Outcome = Option<Result<u64, BadAccess>>;

/// One partition's emulated GIC, wired as the runtime's `PartGic` wires it.
struct Gic {
    cfg: Config,
    dist: VGicDistributor,
    redists: Vec<VGicRedistributor>,
}

impl Gic {
    fn new(cfg: Config, phys: &FakeGic) -> Self {
        let mut dist = VGicDistributor::new(&cfg.spis, &cfg.pcpus).unwrap();
        if let Some(intid) = cfg.quiet {
            dist.tolerate(intid);
        }
        let n = cfg.pcpus.len();
        let redists = (cfg.pcpus.iter().enumerate())
            .map(|(i, &mpidr)| VGicRedistributor::new(i, n, mpidr, cfg.ppis).unwrap())
            .collect();
        let mut gic = Self { cfg, dist, redists };
        gic.reset(phys);
        gic
    }

    fn reset(&mut self, phys: &FakeGic) {
        self.dist.reset(phys);
        self.redists.iter_mut().for_each(|rd| rd.reset(phys));
    }

    /// A guest access at `offset` into the partition's `frame` window.
    fn access(
        &mut self,
        frame: Frame,
        offset: u64,
        size: u8,
        write: Option<u64>,
        phys: &FakeGic,
    ) -> Outcome {
        match (frame, write) {
            (Frame::Gicd, Some(value)) => {
                Some(self.dist.write(offset, size, value, phys).map(|()| 0))
            }
            (Frame::Gicd, None) => Some(self.dist.read(offset, size, phys)),
            (Frame::Gicr, _) => {
                let (i, off) = locate(offset, self.redists.len())?;
                let rd = &mut self.redists[i];
                Some(match write {
                    Some(value) => rd.write(off, size, value, phys).map(|()| 0),
                    None => rd.read(off, size, phys),
                })
            }
        }
    }

    fn apply(&mut self, op: Op, phys: &FakeGic) -> Outcome {
        match op {
            Op::Access {
                frame,
                offset,
                size,
                write,
            } => self.access(frame, offset, size, write, phys),
            Op::Reset => {
                self.reset(phys);
                None
            }
        }
    }

    /// Everything the partition can observe: each register, read through its own
    /// MMIO view, and the physical pending and active state of its interrupts.
    fn observe(&mut self, phys: &FakeGic) -> Vec<(&'static str, u64, Outcome)> {
        let mut seen = Vec::with_capacity(4096);
        for (frame, offset, size) in registers(self.redists.len()) {
            let name = if frame == Frame::Gicd { "GICD" } else { "GICR" };
            seen.push((name, offset, self.access(frame, offset, size, None, phys)));
        }
        for n in 0..32 {
            let mask = self.cfg.spi_word(n);
            let words = [
                phys.spi_pending_word(n as usize),
                phys.spi_active_word(n as usize),
            ];
            seen.push(("SPI pending word", n, Some(Ok(u64::from(words[0] & mask)))));
            seen.push(("SPI active word", n, Some(Ok(u64::from(words[1] & mask)))));
        }
        for &pcpu in &self.cfg.pcpus {
            seen.push((
                "PPI pending of CPU",
                pcpu,
                Some(Ok(u64::from(phys.ppi_pending_word(pcpu)))),
            ));
            seen.push((
                "PPI active of CPU",
                pcpu,
                Some(Ok(u64::from(phys.ppi_active_word(pcpu)))),
            ));
        }
        seen
    }
}

/// Every register of a partition with `vcpus` vCPUs at its natural width: frame,
/// offset, size.
fn registers(vcpus: usize) -> impl Iterator<Item = (Frame, u64, u8)> {
    let gicd = (0..0x0d00).chain(0xffd0..0x1_0000).step_by(4);
    let irouter = (0x6000..0x8000).step_by(8).map(|o| (Frame::Gicd, o, 8));
    let frame = (0..0x100)
        .chain(0xffd0..0x1_0000)
        .chain(0x1_0000..0x1_0480)
        .chain(0x1_0c00..0x1_0d00)
        .step_by(4);
    let gicr = (0..vcpus as u64).flat_map(move |f| {
        frame
            .clone()
            .map(move |o| (Frame::Gicr, f * GICR_FRAME_SIZE + o, 4))
    });
    (gicd.map(|o| (Frame::Gicd, o, 4)))
        .chain(irouter)
        .chain(gicr)
}

/// Whether a GICD load of `value` shows nothing of SPIs outside `cfg`: bits, bytes and
/// routes of interrupts a partition does not own read as zero.
fn shows_only_own(cfg: &Config, offset: u64, size: u8, value: u64) -> bool {
    let owned = |intid: u64| intid < 1024 && cfg.spi_word(intid / 32) & 1 << (intid % 32) != 0;
    match offset {
        0x0080..=0x03ff => value & !u64::from(cfg.spi_word((offset & 0x7f) / 4)) == 0,
        0x0400..=0x07ff => (0..u64::from(size))
            .all(|i| owned(offset - 0x400 + i) || (value >> (8 * i)) & 0xff == 0),
        0x0c00..=0x0cff => {
            (0..16).all(|i| owned(16 * ((offset - 0xc00) / 4) + i) || value & 3 << (2 * i) == 0)
        }
        0x6000..=0x7fff => owned((offset - 0x6000) / 8) || value == 0,
        _ => true,
    }
}

/// Two partitions: SPIs assigned to A, B or nobody (mostly in 32..127, so the
/// partitions share bit-register words), vCPUs on disjoint physical CPUs.
fn partitions() -> impl Strategy<Value = (Config, Config)> {
    let spi = prop_oneof![3 => 32u32..128, 1 => 32u32..=1019];
    let assign = vec((spi, 0u8..3), 0..16);
    let ppis = || any::<u16>().prop_map(|m| u32::from(m) << 16);
    (
        assign,
        1..=MAX_VCPUS,
        1usize..=4,
        ppis(),
        ppis(),
        any::<bool>(),
    )
        .prop_map(|(assign, vcpus_a, vcpus_b, ppis_a, ppis_b, quiet)| {
            let mut owner = BTreeMap::new();
            for (intid, who) in assign {
                owner.entry(intid).or_insert(who);
            }
            let of = |who| -> Vec<u32> {
                owner
                    .iter()
                    .filter(|&(_, &w)| w == who)
                    .map(|(&i, _)| i)
                    .collect()
            };
            let a = Config {
                spis: of(0),
                pcpus: (0..vcpus_a as u64).map(|i| 0x8000_0000 | i).collect(),
                ppis: ppis_a,
                quiet: of(2).first().copied().filter(|_| quiet),
            };
            let b = Config {
                spis: of(1),
                pcpus: (0..vcpus_b as u64).map(|i| 0x8000_0100 | i).collect(),
                ppis: ppis_b,
                quiet: None,
            };
            (a, b)
        })
}

/// GICD offsets, weighted towards registers of INTIDs 32..127.
fn gicd_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0u64..0x80,                                             // CTLR, TYPER, IIDR...
        4 => (1u64..8, 0u64..4).prop_map(|(r, n)| 0x80 * r + 4 * n), // bit registers
        1 => 0x0080u64..0x0400,
        3 => 0x0420u64..0x0480,                                      // IPRIORITYR
        1 => 0x0400u64..0x0c00,                                      // ... and ITARGETSR
        2 => 0x0c00u64..0x0d00,                                      // ICFGR
        3 => 0x6100u64..0x6400,                                      // IROUTER
        1 => 0x6000u64..0x8000,
        1 => prop_oneof![0xffd0u64..0x1_0000, 0u64..0x2_0000],       // ID regs, beyond
        1 => any::<u64>(),
    ]
}

/// GICR offsets: a frame up to two past the most vCPUs, an offset inside it.
fn gicr_offset() -> impl Strategy<Value = u64> {
    let inside = prop_oneof![
        3 => 0u64..0x20,                                       // CTLR, IIDR, TYPER, WAKER
        1 => prop_oneof![0u64..0x1_0000, 0xffd0u64..0x1_0000],
        4 => (1u64..8).prop_map(|r| 0x1_0000 + 0x80 * r),      // SGI_base bit registers
        1 => 0x1_0080u64..0x1_0400,
        3 => 0x1_0400u64..0x1_0420,                            // IPRIORITYR
        2 => 0x1_0c00u64..0x1_0c08,                            // ICFGR
        1 => 0x1_0000u64..0x2_0000,
    ];
    let frames = 0..MAX_VCPUS as u64 + 2;
    prop_oneof![
        8 => (frames, inside).prop_map(|(f, o)| f * GICR_FRAME_SIZE + o),
        1 => any::<u64>(),
    ]
}

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => Just(!0u64),
        1 => Just(0u64),
        1 => (0u32..64).prop_map(|b| 1u64 << b),
        1 => 0u64..20,                           // vCPU affinities, group enables
        1 => (0u64..20).prop_map(|a| a | 1 << 31), // IROUTER.IRM
    ]
}

fn access(frame: Frame, offset: impl Strategy<Value = u64>) -> impl Strategy<Value = Op> {
    // Mostly 32-bit, the width nearly every GIC register wants.
    let size =
        prop_oneof![12 => Just(4u8), 3 => Just(8), 2 => Just(1), 1 => Just(2), 2 => any::<u8>()];
    let write = prop::option::weighted(0.6, value());
    (offset, size, prop::bool::weighted(0.75), write).prop_map(
        move |(offset, size, aligned, write)| {
            // Mostly aligned to the size, as real drivers access registers.
            let offset = if aligned && size.is_power_of_two() {
                offset & !(u64::from(size) - 1)
            } else {
                offset
            };
            Op::Access {
                frame,
                offset,
                size,
                write,
            }
        },
    )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        10 => access(Frame::Gicd, gicd_offset()),
        6 => access(Frame::Gicr, gicr_offset()),
        1 => Just(Op::Reset),
    ];
    vec(op, 0..=MAX_OPS)
}

/// Applies `ops` to `gic`, checking each physical GIC call it causes and each load.
fn drive(gic: &mut Gic, ops: &[Op], phys: &FakeGic) -> Result<(), TestCaseError> {
    for &op in ops {
        let outcome = gic.apply(op, phys);
        for call in phys.take() {
            prop_assert!(
                gic.cfg.owns(&call),
                "{op:x?} (hex) made {call:x?}, not the partition's: {:x?}",
                gic.cfg
            );
        }
        if let (
            Op::Access {
                frame: Frame::Gicd,
                offset,
                size,
                write: None,
            },
            Some(Ok(v)),
        ) = (op, outcome)
        {
            prop_assert!(
                shows_only_own(&gic.cfg, offset, size, v),
                "{op:x?} read {v:#x}: another partition's state"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Partition A's accesses reach only A's interrupts and CPUs, read nothing of
    /// anyone else's, and leave everything B can observe as it was.
    #[test]
    fn guest_accesses_stay_in_their_partition(
        (cfg_a, cfg_b) in partitions(),
        setup in ops(),
        ops in ops(),
    ) {
        let phys = FakeGic::new(IT_LINES);
        let mut b = Gic::new(cfg_b, &phys);
        let mut a = Gic::new(cfg_a, &phys);
        phys.take();
        drive(&mut b, &setup, &phys)?;
        let before = b.observe(&phys);
        drive(&mut a, &ops, &phys)?;
        let gicd = registers(a.redists.len()).filter(|r| r.0 == Frame::Gicd);
        for (frame, offset, size) in gicd {
            if let Some(Ok(v)) = a.access(frame, offset, size, None, &phys) {
                let own = shows_only_own(&a.cfg, offset, size, v);
                prop_assert!(own, "A read {v:#x} at GICD+{offset:#x}: not its own");
            }
        }
        let after = b.observe(&phys);
        prop_assert_eq!(before.len(), after.len());
        if let Some((was, is)) = before.iter().zip(&after).find(|(was, is)| was != is) {
            prop_assert!(false, "B's {} {:#x} was {:x?}, is {:x?}", was.0, was.1, was.2, is.2);
        }
    }
}

/// The vCPUs (bit i = vCPU i) a write of `value` to `ICC_SGI1R_EL1` by vCPU `sender`
/// names in a partition of `vcpus`, read straight off IHI 0069 12.2 with vCPU i at
/// affinity 0.0.0.i: IRM = 1 is everyone but the sender, else Aff3.Aff2.Aff1 must be
/// 0.0.0 and vCPU i is named by `TargetList` bit i - 16 * RS.
fn sgi_reference(value: u64, sender: usize, vcpus: usize) -> u64 {
    let field = |shift: u32, width: u32| (value >> shift) & ((1 << width) - 1);
    let (aff3, rs, irm, aff2, aff1, list) = (
        field(48, 8),
        field(44, 4),
        field(40, 1),
        field(32, 8),
        field(16, 8),
        field(0, 16),
    );
    let named = |i: usize| match irm {
        1 => i != sender,
        _ => aff3 | aff2 | aff1 == 0 && i as u64 / 16 == rs && list & 1 << (i % 16) != 0,
    };
    (0..vcpus.min(64))
        .filter(|&i| named(i))
        .fold(0, |acc, i| acc | 1 << i)
}

/// `ICC_SGI1R_EL1` values: fields mostly small or zero, sometimes RES0 junk, sometimes
/// anything at all.
fn sgi1r() -> impl Strategy<Value = u64> {
    const RES0: u64 = 0xff00_0e00_f000_0000;
    let aff = || prop_oneof![4 => Just(0u64), 1 => 0u64..256];
    let rs = prop_oneof![3 => Just(0u64), 1 => 0u64..16];
    let junk = prop_oneof![3 => Just(0u64), 1 => any::<u64>().prop_map(|j| j & RES0)];
    let fields = (
        aff(),
        rs,
        any::<bool>(),
        aff(),
        0u64..16,
        aff(),
        any::<u16>(),
        junk,
    );
    let structured = fields.prop_map(|(aff3, rs, irm, aff2, intid, aff1, list, junk)| {
        aff3 << 48
            | rs << 44
            | u64::from(irm) << 40
            | aff2 << 32
            | intid << 24
            | aff1 << 16
            | u64::from(list)
            | junk
    });
    prop_oneof![3 => structured, 1 => any::<u64>()]
}

proptest! {
    #![proptest_config(config())]

    /// A trapped SGI write names an SGI and only vCPUs of the sender's own partition,
    /// exactly those the architecture says, whatever the affinity fields, the IRM bit,
    /// the vCPU count or the sender index (out of range included).
    #[test]
    fn sgis_target_only_the_senders_vcpus(
        value in sgi1r(),
        vcpus in prop_oneof![4 => 1..=MAX_VCPUS, 1 => 0usize..=80],
        sender in prop_oneof![4 => 0..MAX_VCPUS, 1 => 0usize..100],
    ) {
        let (intid, targets) = sgi_targets(value, sender, vcpus);
        prop_assert!(intid < 16);
        let own = 1u64.checked_shl(vcpus as u32).map_or(!0, |b| b - 1);
        prop_assert!(targets & !own == 0, "targets {targets:#x}: beyond {vcpus} vCPUs");
        prop_assert_eq!(targets, sgi_reference(value, sender, vcpus));
    }
}

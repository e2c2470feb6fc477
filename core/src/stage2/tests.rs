//! Core's own stage-2 tests: the conformance suite on toy formats, plus engine details.

use super::conformance::{self, host_overlaps, Fixture};
use super::toy::Toy;
use super::*;
use crate::addr::{GuestPhysAddr as Gpa, HostPhysAddr as Hpa, Range, PAGE_SIZE};

const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

#[test]
fn conformance_plain() {
    conformance::run_all(&Toy::PLAIN);
}

#[test]
fn conformance_concatenated_root() {
    conformance::run_all(&Toy::CONCATENATED);
}

#[test]
fn conformance_pages_only() {
    conformance::run_all(&Toy::SMALL_PAGES_ONLY);
}

#[test]
fn conformance_level2_root() {
    conformance::run_all(&Toy::LEVEL2_ROOT);
}

#[test]
fn conformance_four_levels() {
    conformance::run_all(&Toy::FOUR_LEVEL);
}

#[test]
fn concatenated_root_reaches_the_top_of_the_ipa_space() {
    let fx = Fixture::new(64);
    let mut s2 = fx.stage2(Toy::CONCATENATED);
    assert_eq!(s2.root_frames(), 4);
    assert!(
        s2.root().is_aligned(4 * PAGE_SIZE),
        "root aligned to its size"
    );
    let top = Gpa::new((1 << 41) - PAGE_SIZE);
    s2.map(top, Hpa::new(0x1000), PAGE_SIZE, Perms::R, MemType::Device)
        .unwrap();
    let t = s2.translate(top).unwrap();
    assert_eq!(
        (t.hpa, t.perms, t.mem),
        (Hpa::new(0x1000), Perms::R, MemType::Device)
    );
    assert_eq!(
        s2.translate(Gpa::new((1 << 40) - PAGE_SIZE)),
        None,
        "other root frame untouched"
    );
}

#[test]
fn unsupported_geometry_is_refused() {
    let (arena, pool) = Arena::new(Hpa::new(0x1000), 32).unwrap();
    let frames = spin::Mutex::new(pool);
    for (ipa_bits, start_level) in [(44, 1), (30, 1), (53, 0), (20, 3)] {
        let toy = Toy {
            ipa_bits,
            start_level,
            first_leaf_level: 3,
        };
        let err = Stage2::new(toy, &arena, &frames).err();
        assert_eq!(
            err,
            Some(Stage2Error::UnsupportedGeometry {
                ipa_bits,
                start_level
            })
        );
    }
}

#[test]
fn splitting_a_giant_block_keeps_every_other_translation() {
    let fx = Fixture::new(64);
    let mut s2 = fx.stage2(Toy::PLAIN);
    let (g, h) = (Gpa::new(GIB), Hpa::new(4 * GIB));
    s2.map(g, h, GIB, Perms::RWX, MemType::Normal).unwrap();
    assert_eq!(s2.translate(g).unwrap().page_size, GIB);
    let page = g.checked_add(3 * MIB2 + 5 * PAGE_SIZE).unwrap();
    s2.protect(page, PAGE_SIZE, Perms::R).unwrap();
    let at = |off: u64| s2.translate(g.checked_add(off).unwrap()).unwrap();
    assert_eq!(
        (
            at(3 * MIB2 + 5 * PAGE_SIZE).perms,
            at(3 * MIB2 + 5 * PAGE_SIZE).page_size
        ),
        (Perms::R, PAGE_SIZE)
    );
    assert_eq!(
        (at(3 * MIB2).perms, at(3 * MIB2).page_size),
        (Perms::RWX, PAGE_SIZE)
    );
    assert_eq!((at(0).perms, at(0).page_size), (Perms::RWX, MIB2));
    assert_eq!(at(GIB - 1).hpa, Hpa::new(5 * GIB - 1));
    assert_eq!(
        at(3 * MIB2 + 5 * PAGE_SIZE + 7).hpa,
        Hpa::new(4 * GIB + 3 * MIB2 + 5 * PAGE_SIZE + 7)
    );
}

#[test]
fn destroy_returns_every_frame() {
    let fx = Fixture::new(64);
    let before = fx.free_frames();
    let mut s2 = fx.stage2(Toy::FOUR_LEVEL);
    s2.map(
        Gpa::new(0x1000),
        Hpa::new(0x1000),
        3 * MIB2,
        Perms::RW,
        MemType::Normal,
    )
    .unwrap();
    s2.map(
        Gpa::new(1 << 47),
        Hpa::new(0),
        PAGE_SIZE,
        Perms::RW,
        MemType::Normal,
    )
    .unwrap();
    s2.unmap(Gpa::new(1 << 47), PAGE_SIZE).unwrap();
    assert_eq!(s2.retired_frames(), 3, "PDPT, PD and PT of the lone page");
    assert!(fx.free_frames() < before);
    // SAFETY: never installed on a CPU.
    unsafe { s2.destroy() };
    assert_eq!(fx.free_frames(), before);
}

#[test]
fn overlap_check_catches_a_shared_frame() {
    let fx = Fixture::new(64);
    let (mut a, mut b) = (fx.stage2(Toy::PLAIN), fx.stage2(Toy::PLAIN));
    a.map(
        Gpa::new(0),
        Hpa::new(0x10_0000),
        MIB2,
        Perms::RW,
        MemType::Normal,
    )
    .unwrap();
    b.map(
        Gpa::new(0),
        Hpa::new(0x30_0000),
        MIB2,
        Perms::RW,
        MemType::Normal,
    )
    .unwrap();
    assert!(host_overlaps(&a, &b).is_empty());
    b.map(
        Gpa::new(MIB2),
        Hpa::new(0x10_5000),
        PAGE_SIZE,
        Perms::RW,
        MemType::Normal,
    )
    .unwrap();
    let shared = Range::<Hpa>::new(Hpa::new(0x10_5000), PAGE_SIZE).unwrap();
    assert_eq!(host_overlaps(&a, &b), [shared]);
}

#[test]
fn pool_trims_partial_frames_and_arena_checks_its_arguments() {
    let mut pool = TableFrames::new();
    // SAFETY: the pool is never used to allocate, so no memory is touched.
    unsafe { pool.add_range(Range::<Hpa>::new(Hpa::new(0x1800), 0x2000).unwrap()) };
    assert_eq!(
        pool.free_frames(),
        1,
        "only [0x2000, 0x3000) is a whole frame"
    );
    assert!(Arena::new(Hpa::new(0x800), 4).is_none());
    assert!(Arena::new(Hpa::new(0x1000), 0).is_none());
    assert!(Arena::new(Hpa::new(!0xfff), 2).is_none());
}

#[test]
fn errors_name_the_addresses() {
    let e = Stage2Error::AlreadyMapped {
        gpa: Gpa::new(0x4000_0000),
    };
    assert_eq!(format!("{e}"), "GPA:0x40000000 is already mapped");
    let e = Stage2Error::Misaligned {
        gpa: Gpa::new(0x1000),
        hpa: Some(Hpa::new(0x800)),
        size: 0x1000,
    };
    assert_eq!(
        format!("{e}"),
        "GPA:0x1000 -> HPA:0x800 size 0x1000 is not 4 KiB aligned"
    );
    assert_eq!(format!("{:?}", Perms::RX), "r-x");
}

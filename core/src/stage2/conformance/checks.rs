//! Deterministic checks: descriptor round trips, block selection, refusals.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::layout::{mem_type, supported_perms, GIB, MIB2};
use super::{ensure, run, Fixture};
use crate::addr::{GuestPhysAddr as Gpa, HostPhysAddr as Hpa, PAGE_SIZE};
use crate::stage2::{
    level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms, PhysMemory, Stage2,
    Stage2Error, LAST_LEVEL,
};

/// The format's encoders and decoder agree, zero is invalid, and the leaf levels obey
/// the contract of [`DescriptorFormat`].
pub fn descriptor_roundtrip<F: DescriptorFormat>(format: &F) {
    assert!(format.leaf_allowed(LAST_LEVEL), "level 3 must hold pages");
    for level in format.start_level()..LAST_LEVEL {
        let ok = !format.leaf_allowed(level) || format.leaf_allowed(level + 1);
        assert!(ok, "leaves at {level} but not below");
    }
    let perms = supported_perms(format);
    let ok = perms.contains(&Perms::RW) && perms.contains(&Perms::RWX);
    assert!(ok, "RW and RWX needed");
    let levels = format.start_level()..=LAST_LEVEL;
    let strategy = (levels, any::<u64>(), 0..perms.len(), any::<bool>());
    run(
        "descriptor_roundtrip",
        strategy,
        |(level, bits, p, device)| roundtrip_case(format, level, bits, perms[p], device),
    );
}

fn roundtrip_case<F: DescriptorFormat>(
    format: &F,
    level: u8,
    bits: u64,
    perms: Perms,
    device: bool,
) -> Result<(), String> {
    for raw in [0, F::INVALID] {
        let d = format.decode(level, raw);
        ensure(d == Descriptor::Invalid, || {
            format!("{raw:#x} at {level} decodes as {d:?}")
        })?;
    }
    let bits = bits % (1u64 << format.pa_bits().min(52));
    if format.leaf_allowed(level) {
        let hpa = Hpa::new(bits & !(level_size(level) - 1));
        let attrs = Attrs {
            perms,
            mem: mem_type(device),
        };
        let raw = format.encode_leaf(level, hpa, attrs);
        let d = format.decode(level, raw);
        let want = Descriptor::Leaf { hpa, attrs };
        ensure(d == want, || {
            format!("{want:?} at {level}: {raw:#x} -> {d:?}")
        })?;
    }
    if level < LAST_LEVEL {
        let next = Hpa::new(bits & !(PAGE_SIZE - 1));
        let raw = format.encode_table(level, next);
        let d = format.decode(level, raw);
        ensure(d == Descriptor::Table(next), || {
            format!("table {next} at {level}: {raw:#x} -> {d:?}")
        })?;
    }
    Ok(())
}

/// A GPA base that is 1 GiB aligned and leaves room for a few GiB in the IPA space.
fn base<F: DescriptorFormat>(format: &F) -> u64 {
    ((1u64 << format.ipa_bits()) / 4) & !(GIB - 1)
}

/// Sizes of the leaves covering `[gpa, gpa + size)`, in order.
fn leaves<F: DescriptorFormat + Clone>(
    fx: &Fixture,
    format: &F,
    gpa: u64,
    hpa: u64,
    size: u64,
) -> Vec<u64> {
    let mut s2 = fx.stage2(format.clone());
    s2.map(
        Gpa::new(gpa),
        Hpa::new(hpa),
        size,
        Perms::RW,
        MemType::Normal,
    )
    .expect("map");
    let mut out = Vec::new();
    s2.for_each_mapping(|m| out.push(m.size));
    out
}

/// Blocks where alignment and size allow, pages elsewhere.
pub fn block_selection<F: DescriptorFormat + Clone>(format: &F) {
    let fx = Fixture::new(2048);
    let g = base(format) + 4 * MIB2;
    let (h, block) = (
        0x4000_0000,
        if format.leaf_allowed(2) {
            MIB2
        } else {
            PAGE_SIZE
        },
    );
    let n = |size: u64, leaf: u64| (size / leaf) as usize;
    // A 2 MiB-aligned 2 MiB map is one block descriptor.
    assert_eq!(
        leaves(&fx, format, g, h, MIB2),
        [block].repeat(n(MIB2, block))
    );
    // The same with the host side 4 KiB off: pages only.
    assert_eq!(
        leaves(&fx, format, g, h + PAGE_SIZE, MIB2),
        [PAGE_SIZE].repeat(512)
    );
    // Page, block, page.
    let mixed = leaves(
        &fx,
        format,
        g - PAGE_SIZE,
        h - PAGE_SIZE,
        MIB2 + 2 * PAGE_SIZE,
    );
    let mut want = [PAGE_SIZE].to_vec();
    want.extend([block].repeat(n(MIB2, block)));
    want.push(PAGE_SIZE);
    assert_eq!(mixed, want);
    if format.ipa_bits() >= 32 {
        // 1 GiB-aligned 1 GiB: one level-1 block where the format has them.
        let giant = if format.leaf_allowed(1) { GIB } else { block };
        let got = leaves(&fx, format, base(format), h, GIB);
        assert_eq!((got.len(), got[0]), (n(GIB, giant), giant), "1 GiB map");
    }
    let mut s2 = fx.stage2(format.clone());
    s2.map(Gpa::new(g), Hpa::new(h), MIB2, Perms::RW, MemType::Normal)
        .expect("map");
    let t = s2.translate(Gpa::new(g + 0x1234)).expect("mapped");
    assert_eq!((t.hpa, t.page_size), (Hpa::new(h + 0x1234), block));
}

/// Bad requests come back as the right [`Stage2Error`] and change nothing.
pub fn refusals<F: DescriptorFormat + Clone>(format: &F) {
    let fx = Fixture::new(256);
    bad_arguments(&fx, format);
    near_live_mappings(&fx, format);
    perms_and_remap(&fx, format);
}

fn map_rw<F: DescriptorFormat, M: PhysMemory>(
    s2: &mut Stage2<'_, F, M>,
    g: u64,
    h: u64,
    size: u64,
) -> Result<(), Stage2Error> {
    s2.map(Gpa::new(g), Hpa::new(h), size, Perms::RW, MemType::Normal)
}

fn bad_arguments<F: DescriptorFormat + Clone>(fx: &Fixture, format: &F) {
    let mut s2 = fx.stage2(format.clone());
    let (g, h) = (base(format), 0x4000_0000u64);
    let (gpa, limit) = (Gpa::new(g), 1u64 << format.ipa_bits());
    let map = map_rw::<F, _>;
    assert_eq!(map(&mut s2, g, h, 0), Err(Stage2Error::EmptyRange { gpa }));
    for (g2, h2, size) in [(g + 0x800, h, MIB2), (g, h + 0x800, MIB2), (g, h, 0x1800)] {
        let err = Stage2Error::Misaligned {
            gpa: Gpa::new(g2),
            hpa: Some(Hpa::new(h2)),
            size,
        };
        assert_eq!(map(&mut s2, g2, h2, size), Err(err));
    }
    let ipa_bits = format.ipa_bits();
    for (g2, size) in [
        (limit - PAGE_SIZE, 2 * PAGE_SIZE),
        (!0xfff, PAGE_SIZE),
        (limit, PAGE_SIZE),
    ] {
        let err = Stage2Error::OutOfIpaRange {
            gpa: Gpa::new(g2),
            size,
            ipa_bits,
        };
        assert_eq!(map(&mut s2, g2, h, size), Err(err));
        assert_eq!(s2.unmap(Gpa::new(g2), size), Err(err));
        assert_eq!(s2.protect(Gpa::new(g2), size, Perms::RW), Err(err));
    }
    let pa_bits = format.pa_bits();
    if pa_bits < 64 {
        let h2 = (1u64 << pa_bits) - PAGE_SIZE;
        let err = Stage2Error::OutputOutOfRange {
            hpa: Hpa::new(h2),
            size: 2 * PAGE_SIZE,
            pa_bits,
        };
        assert_eq!(map(&mut s2, g, h2, 2 * PAGE_SIZE), Err(err));
    }
    assert_eq!(s2.translate(Gpa::new(limit)), None);
    assert_eq!(s2.translate(Gpa::new(u64::MAX)), None);
    let mut any = false;
    s2.for_each_mapping(|_| any = true);
    assert!(!any, "refused requests mapped something");
}

fn near_live_mappings<F: DescriptorFormat + Clone>(fx: &Fixture, format: &F) {
    let mut s2 = fx.stage2(format.clone());
    let (g, h) = (base(format), 0x4000_0000u64);
    let (map, rw) = (map_rw::<F, _>, Perms::RW);
    // Overlapping a live mapping, even by one page, is refused and changes nothing.
    map(&mut s2, g, h, MIB2).expect("map");
    let edge = g + MIB2 - PAGE_SIZE;
    let err = Stage2Error::AlreadyMapped {
        gpa: Gpa::new(edge),
    };
    assert_eq!(map(&mut s2, edge, h + 2 * MIB2, 2 * PAGE_SIZE), Err(err));
    assert_eq!(
        s2.translate(Gpa::new(edge)).map(|t| t.hpa),
        Some(Hpa::new(h + MIB2 - PAGE_SIZE))
    );
    assert_eq!(s2.translate(Gpa::new(g + MIB2)), None);
    // Protecting a hole is refused and changes nothing.
    let err = Stage2Error::NotMapped {
        gpa: Gpa::new(g + MIB2),
    };
    assert_eq!(
        s2.protect(Gpa::new(edge), 2 * PAGE_SIZE, Perms::RWX),
        Err(err)
    );
    assert_eq!(s2.translate(Gpa::new(edge)).map(|t| t.perms), Some(rw));
}

fn perms_and_remap<F: DescriptorFormat + Clone>(fx: &Fixture, format: &F) {
    let mut s2 = fx.stage2(format.clone());
    let (g, h) = (base(format), 0x4000_0000u64);
    let (gpa, hpa, edge) = (Gpa::new(g), Hpa::new(h), g + MIB2 - PAGE_SIZE);
    map_rw(&mut s2, g, h, MIB2).expect("map");
    for perms in (0..8u8).map(|b| Perms::new(b & 1 != 0, b & 2 != 0, b & 4 != 0)) {
        if !format.supports(perms) {
            let err = Err(Stage2Error::UnsupportedPerms { perms });
            assert_eq!(
                s2.map(
                    Gpa::new(g + 4 * MIB2),
                    hpa,
                    PAGE_SIZE,
                    perms,
                    MemType::Normal
                ),
                err
            );
            assert_eq!(s2.protect(gpa, PAGE_SIZE, perms), err);
        }
    }
    // Unmapping a hole is fine; remap replaces.
    assert_eq!(s2.unmap(Gpa::new(g + 4 * MIB2), MIB2), Ok(()));
    s2.remap(
        Gpa::new(edge),
        Hpa::new(h),
        2 * PAGE_SIZE,
        Perms::RWX,
        MemType::Device,
    )
    .expect("remap");
    let t = s2.translate(Gpa::new(edge + PAGE_SIZE)).expect("remapped");
    assert_eq!(
        (t.hpa, t.perms, t.mem),
        (Hpa::new(h + PAGE_SIZE), Perms::RWX, MemType::Device)
    );
    assert_eq!(s2.translate(Gpa::new(g)).map(|t| t.hpa), Some(hpa));
}

/// Running out of table frames mid-way leaves nothing half-done.
pub fn out_of_frames<F: DescriptorFormat + Clone>(format: &F) {
    let fx = Fixture::new(64);
    let mut s2 = fx.stage2(format.clone());
    let g = base(format) + 4 * MIB2;
    let (gpa, hpa) = (Gpa::new(g), Hpa::new(0x4000_0000));
    // One frame short of the tables a page needs: a block (if any) fits, the page not.
    let short = usize::from(LAST_LEVEL - format.start_level()) - 1;
    fx.drain_to(short);
    let r = s2.map(gpa, hpa, MIB2 + PAGE_SIZE, Perms::RW, MemType::Normal);
    assert_eq!(r, Err(Stage2Error::OutOfFrames));
    assert_eq!(s2.translate(gpa), None, "rolled back");
    let mut any = false;
    s2.for_each_mapping(|_| any = true);
    assert!(!any, "no leaf left behind");
    // SAFETY: these tables were never installed on any CPU.
    unsafe { s2.reclaim_retired() };
    assert_eq!(fx.free_frames(), short, "table frames returned");
    // Splitting a block needs a frame: with none, unmap refuses and keeps the block.
    if format.leaf_allowed(2) {
        s2.map(gpa, hpa, MIB2, Perms::RW, MemType::Normal)
            .expect("block fits");
        fx.drain_to(0);
        assert_eq!(
            s2.unmap(Gpa::new(g + PAGE_SIZE), PAGE_SIZE),
            Err(Stage2Error::OutOfFrames)
        );
        let t = s2.translate(Gpa::new(g + PAGE_SIZE)).expect("still mapped");
        assert_eq!(t.page_size, MIB2);
    }
}

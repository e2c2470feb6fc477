//! Property checks over random region sets: map, unmap and protect against a model.

use alloc::format;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::layout::{
    carve, expected_leaves, lay_out, map_all, matches_model, shapes, supported_perms, Region,
};
use super::{ensure, run, Fixture};
use crate::addr::{GuestPhysAddr as Gpa, PAGE_SIZE};
use crate::stage2::{DescriptorFormat, Stage2Error};

/// Table frames each case may use; generous, the layouts need a few dozen.
const FRAMES: usize = 1024;

/// Every mapped GPA translates to the right HPA, permissions and memory type; the
/// neighbours of each region stay unmapped; leaves are as large as alignment allows.
pub fn map_translate<F: DescriptorFormat + Clone>(format: &F) {
    run("map_translate", shapes(), |input| {
        let model = lay_out(format, &input);
        let fx = Fixture::new(FRAMES);
        let mut s2 = fx.stage2(format.clone());
        map_all(&mut s2, &model)?;
        matches_model(&s2, &model)?;
        let want: u64 = model.iter().map(|r| expected_leaves(format, r)).sum();
        let mut got = 0;
        s2.for_each_mapping(|_| got += 1);
        ensure(got == want, || {
            format!("{got} leaf descriptors, expected {want}")
        })
    });
}

/// A random page range `[lo, hi)` inside one region of `model`.
fn pick(model: &[Region], (which, from, to): (usize, u64, u64)) -> (Region, u64, u64) {
    let r = model[which % model.len()];
    let pages = r.size / PAGE_SIZE;
    let a = from % pages;
    let b = a + 1 + to % (pages - a);
    (r, r.gpa + a * PAGE_SIZE, r.gpa + b * PAGE_SIZE)
}

type Cut = (usize, u64, u64);

fn cut() -> impl Strategy<Value = Cut> {
    (any::<usize>(), any::<u64>(), any::<u64>())
}

/// Unmapping part of a region removes exactly that part (blocks around it are split);
/// unmapping everything, holes included, gives every table frame back.
pub fn unmap_undoes_map<F: DescriptorFormat + Clone>(format: &F) {
    run("unmap_undoes_map", (shapes(), cut()), |(input, c)| {
        let model = lay_out(format, &input);
        if model.is_empty() {
            return Ok(());
        }
        let fx = Fixture::new(FRAMES);
        let mut s2 = fx.stage2(format.clone());
        let baseline = fx.free_frames();
        map_all(&mut s2, &model)?;
        let (_, lo, hi) = pick(&model, c);
        s2.unmap(Gpa::new(lo), hi - lo)
            .map_err(|e| format!("unmap: {e}"))?;
        for g in [lo, hi - PAGE_SIZE] {
            ensure(s2.translate(Gpa::new(g)).is_none(), || {
                format!("GPA:{g:#x} still mapped")
            })?;
        }
        matches_model(&s2, &carve(&model, lo, hi, None))?;
        let (first, last) = (model[0].gpa, model[model.len() - 1].end());
        s2.unmap(Gpa::new(first), last - first)
            .map_err(|e| format!("unmap all: {e}"))?;
        let mut left = Vec::new();
        s2.for_each_mapping(|m| left.push(*m));
        ensure(left.is_empty(), || {
            format!("leaves left after unmapping all: {left:?}")
        })?;
        // SAFETY: these tables were never installed on any CPU.
        unsafe { s2.reclaim_retired() };
        let free = fx.free_frames();
        ensure(free == baseline, || {
            format!("{free} frames free after unmap, {baseline} before map")
        })
    });
}

/// Protecting part of a region changes the permissions of exactly that part; asking to
/// protect past the end of a mapping is refused without changing anything.
pub fn protect_changes_only_range<F: DescriptorFormat + Clone>(format: &F) {
    let perms = supported_perms(format);
    run(
        "protect_changes_only_range",
        (shapes(), cut(), any::<usize>()),
        |(input, c, p)| {
            let model = lay_out(format, &input);
            if model.is_empty() {
                return Ok(());
            }
            let fx = Fixture::new(FRAMES);
            let mut s2 = fx.stage2(format.clone());
            map_all(&mut s2, &model)?;
            let (_, lo, hi) = pick(&model, c);
            let new = perms[p % perms.len()];
            s2.protect(Gpa::new(lo), hi - lo, new)
                .map_err(|e| format!("protect: {e}"))?;
            let model = carve(&model, lo, hi, Some(new));
            matches_model(&s2, &model)?;
            if !model.iter().any(|r| r.contains(hi)) && hi < 1u64 << format.ipa_bits() {
                let other = perms[(p + 1) % perms.len()];
                let r = s2.protect(Gpa::new(lo), hi - lo + PAGE_SIZE, other);
                let want = Err(Stage2Error::NotMapped { gpa: Gpa::new(hi) });
                ensure(r == want, || {
                    format!("protect over a hole: {r:?}, want {want:?}")
                })?;
                matches_model(&s2, &model)?;
            }
            Ok(())
        },
    );
}

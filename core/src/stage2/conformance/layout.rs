//! Random, well-formed sets of regions for the property checks, and a model to compare
//! the tables against.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::addr::{GuestPhysAddr, HostPhysAddr, PAGE_SIZE};
use crate::stage2::{
    level_size, Attrs, DescriptorFormat, MemType, Perms, PhysMemory, Stage2, LAST_LEVEL,
};

/// 2 MiB.
pub const MIB2: u64 = 2 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;

/// One mapping request, and the model of what it should translate to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Guest start.
    pub gpa: u64,
    /// Host start.
    pub hpa: u64,
    /// Length in bytes (a multiple of 4 KiB).
    pub size: u64,
    /// Permissions and memory type.
    pub attrs: Attrs,
}

impl Region {
    /// One past the last guest address.
    pub fn end(&self) -> u64 {
        self.gpa + self.size
    }

    /// Whether `gpa` lies inside.
    pub fn contains(&self, gpa: u64) -> bool {
        (self.gpa..self.end()).contains(&gpa)
    }

    /// The sub-region `[gpa + from, gpa + to)`.
    pub fn slice(&self, from: u64, to: u64) -> Self {
        Self {
            gpa: self.gpa + from,
            hpa: self.hpa + from,
            size: to - from,
            ..*self
        }
    }
}

/// The shape of one region before it is placed.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    gap_pages: u64,
    kind: u8,
    count: u64,
    skew: u64,
    perms: usize,
    device: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0u64..4,
        0u8..10,
        1u64..48,
        1u64..512,
        0usize..8,
        any::<bool>(),
    )
        .prop_map(|(gap_pages, kind, count, skew, perms, device)| Shape {
            gap_pages,
            kind,
            count,
            skew,
            perms,
            device,
        })
}

/// Up to seven region shapes plus two placement seeds.
pub fn shapes() -> impl Strategy<Value = (Vec<Shape>, u64, u64)> {
    (vec(shape(), 1..8), any::<u64>(), any::<u64>())
}

/// Every permission set the format can encode.
pub fn supported_perms<F: DescriptorFormat>(format: &F) -> Vec<Perms> {
    (0..8u8)
        .map(|b| Perms::new(b & 1 != 0, b & 2 != 0, b & 4 != 0))
        .filter(|p| format.supports(*p))
        .collect()
}

fn align_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align) * align
}

/// Places `shapes` one after another (small page runs, 2 MiB-aligned blocks, runs whose
/// host side is deliberately misaligned, 1 GiB blocks), then slides the lot to random
/// 1 GiB-aligned bases that fit the format's address widths.
pub fn lay_out<F: DescriptorFormat>(
    format: &F,
    (shapes, seed_g, seed_h): &(Vec<Shape>, u64, u64),
) -> Vec<Region> {
    let perms = supported_perms(format);
    let (mut g, mut h, mut out) = (0u64, 0u64, Vec::new());
    for s in shapes {
        g += s.gap_pages * PAGE_SIZE;
        h += s.gap_pages * PAGE_SIZE;
        let size = place(format, s, &mut g, &mut h);
        let attrs = Attrs {
            perms: perms[s.perms % perms.len()],
            mem: mem_type(s.device),
        };
        out.push(Region {
            gpa: g,
            hpa: h,
            size,
            attrs,
        });
        (g, h) = (g + size, h + size);
    }
    let g_limit = 1u64 << format.ipa_bits();
    let h_limit = 1u64 << format.pa_bits().min(52);
    out.retain(|r| r.end() <= g_limit && r.hpa + r.size <= h_limit);
    let g_base = slide(
        out.iter().map(Region::end).max().unwrap_or(0),
        g_limit,
        *seed_g,
    );
    let h_end = out.iter().map(|r| r.hpa + r.size).max().unwrap_or(0);
    let h_base = slide(h_end, h_limit, *seed_h);
    let shift = |r: &Region| Region {
        gpa: r.gpa + g_base,
        hpa: r.hpa + h_base,
        ..*r
    };
    out.iter().map(shift).collect()
}

/// Aligns the cursors `g`, `h` as `s`'s kind asks and returns the region's size.
fn place<F: DescriptorFormat>(format: &F, s: &Shape, g: &mut u64, h: &mut u64) -> u64 {
    match s.kind {
        0..=4 => s.count * PAGE_SIZE,
        7 | 8 => {
            (*g, *h) = (align_up(*g, MIB2), align_up(*h, MIB2) + s.skew * PAGE_SIZE);
            MIB2 + (s.count % 4) * PAGE_SIZE
        }
        // 1 GiB of 4 KiB pages would need 513 tables: only where blocks exist.
        9 if format.leaf_allowed(2) => {
            (*g, *h) = (align_up(*g, GIB), align_up(*h, GIB));
            GIB + (s.count % 2) * MIB2
        }
        _ => {
            (*g, *h) = (align_up(*g, MIB2), align_up(*h, MIB2));
            (s.count % 3 + 1) * MIB2 + (s.skew % 4) * PAGE_SIZE
        }
    }
}

/// Device if `device`, else Normal.
pub fn mem_type(device: bool) -> MemType {
    if device {
        MemType::Device
    } else {
        MemType::Normal
    }
}

fn slide(span: u64, limit: u64, seed: u64) -> u64 {
    let slots = (limit - span) / GIB + 1;
    (seed % slots) * GIB
}

/// How many leaves the engine should use for `r`: the largest allowed leaf that both
/// addresses are aligned to and that fits, greedily from the start.
pub fn expected_leaves<F: DescriptorFormat>(format: &F, r: &Region) -> u64 {
    let (mut off, mut leaves) = (0, 0);
    while off < r.size {
        let fits = |level: u8| {
            let size = level_size(level);
            format.leaf_allowed(level)
                && ((r.gpa + off) | (r.hpa + off)) & (size - 1) == 0
                && r.size - off >= size
        };
        let level = (format.start_level()..LAST_LEVEL)
            .find(|&l| fits(l))
            .unwrap_or(LAST_LEVEL);
        off += level_size(level);
        leaves += 1;
    }
    leaves
}

/// Checks that the tables translate exactly `model` (non-overlapping regions): every
/// leaf lies inside one region with the right host offset and attributes, the leaves
/// cover the model's bytes exactly, and edges and middles translate as expected.
pub fn matches_model<F: DescriptorFormat, M: PhysMemory>(
    s2: &Stage2<'_, F, M>,
    model: &[Region],
) -> Result<(), String> {
    let mut err = None;
    let mut covered = 0u64;
    s2.for_each_mapping(|m| {
        let (g, h) = (m.gpa.as_u64(), m.hpa.as_u64());
        let ok = model.iter().any(|r| {
            r.contains(g) && g + m.size <= r.end() && h == r.hpa + (g - r.gpa) && m.attrs == r.attrs
        });
        if !ok && err.is_none() {
            err = Some(format!("stray leaf {m:?}"));
        }
        covered += m.size;
    });
    if let Some(e) = err {
        return Err(e);
    }
    let want: u64 = model.iter().map(|r| r.size).sum();
    if covered != want {
        return Err(format!(
            "leaves cover {covered:#x} bytes, model has {want:#x}"
        ));
    }
    model.iter().try_for_each(|r| spot_check(s2, model, r))
}

fn spot_check<F: DescriptorFormat, M: PhysMemory>(
    s2: &Stage2<'_, F, M>,
    model: &[Region],
    r: &Region,
) -> Result<(), String> {
    let mid = (r.size / 2) & !(PAGE_SIZE - 1);
    for off in [0, mid, r.size - PAGE_SIZE, r.size - 8] {
        let t = s2.translate(GuestPhysAddr::new(r.gpa + off));
        let got = t.map(|t| (t.hpa, t.perms, t.mem));
        let want = (HostPhysAddr::new(r.hpa + off), r.attrs.perms, r.attrs.mem);
        if got != Some(want) {
            return Err(format!(
                "GPA:{:#x} translates to {t:?}, want {want:?}",
                r.gpa + off
            ));
        }
    }
    for edge in [r.gpa.checked_sub(PAGE_SIZE), Some(r.end())]
        .into_iter()
        .flatten()
    {
        let mapped = model.iter().any(|o| o.contains(edge));
        if !mapped && s2.translate(GuestPhysAddr::new(edge)).is_some() {
            return Err(format!("GPA:{edge:#x} next to {r:?} should be unmapped"));
        }
    }
    Ok(())
}

/// Maps every region of `model`, in order.
pub fn map_all<F: DescriptorFormat, M: PhysMemory>(
    s2: &mut Stage2<'_, F, M>,
    model: &[Region],
) -> Result<(), String> {
    model.iter().try_for_each(|r| {
        let (g, h) = (GuestPhysAddr::new(r.gpa), HostPhysAddr::new(r.hpa));
        s2.map(g, h, r.size, r.attrs.perms, r.attrs.mem)
            .map_err(|e| format!("map {r:?}: {e}"))
    })
}

/// `model` with `[lo, hi)` cut out, and the cut-out pieces given `replace` if any.
pub fn carve(model: &[Region], lo: u64, hi: u64, replace: Option<Perms>) -> Vec<Region> {
    let mut out = Vec::new();
    for r in model {
        let (a, b) = (
            lo.clamp(r.gpa, r.end()) - r.gpa,
            hi.clamp(r.gpa, r.end()) - r.gpa,
        );
        if a == b {
            out.push(*r);
            continue;
        }
        out.extend((a > 0).then(|| r.slice(0, a)));
        if let Some(perms) = replace {
            out.push(Region {
                attrs: Attrs { perms, ..r.attrs },
                ..r.slice(a, b)
            });
        }
        out.extend((b < r.size).then(|| r.slice(b, r.size)));
    }
    out
}

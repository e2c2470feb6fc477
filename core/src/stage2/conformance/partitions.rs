//! Isolation: tables built from disjoint host ranges never share a host frame.

use alloc::format;
use alloc::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::layout::MIB2;
use super::{ensure, run, Fixture};
use crate::addr::{GuestPhysAddr as Gpa, HostPhysAddr as Hpa, Range, PAGE_SIZE};
use crate::stage2::{DescriptorFormat, MemType, Perms, PhysMemory, Stage2};

/// Where the random host RAM assignments start.
const HOST_BASE: u64 = 0x4000_0000;

/// The host ranges `s2` maps, sorted, adjacent and overlapping leaves merged.
pub fn host_ranges<F: DescriptorFormat, M: PhysMemory>(s2: &Stage2<'_, F, M>) -> Vec<Range<Hpa>> {
    let mut spans = Vec::new();
    s2.for_each_mapping(|m| spans.push((m.hpa.as_u64(), m.hpa.as_u64() + m.size)));
    merge(spans).into_iter().map(to_range).collect()
}

/// The host ranges both `a` and `b` map: empty for properly isolated partitions.
pub fn host_overlaps<F, M, G, N>(a: &Stage2<'_, F, M>, b: &Stage2<'_, G, N>) -> Vec<Range<Hpa>>
where
    F: DescriptorFormat,
    M: PhysMemory,
    G: DescriptorFormat,
    N: PhysMemory,
{
    let spans = |s2: Vec<Range<Hpa>>| -> Vec<(u64, u64)> {
        s2.iter()
            .map(|r| (r.start.as_u64(), r.start.as_u64() + r.size))
            .collect()
    };
    let (a, b) = (spans(host_ranges(a)), spans(host_ranges(b)));
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo < hi {
            out.push(to_range((lo, hi)));
        }
        if a[i].1 < b[j].1 {
            i += 1
        } else {
            j += 1
        }
    }
    out
}

fn merge(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn to_range((lo, hi): (u64, u64)) -> Range<Hpa> {
    Range {
        start: Hpa::new(lo),
        size: hi - lo,
    }
}

/// One chunk of host RAM: pages or 2 MiB blocks, a gap after it, and its owner.
type Chunk = (u64, bool, u64, bool);

fn chunks() -> impl Strategy<Value = (Vec<Chunk>, Option<u64>)> {
    let chunk = (1u64..600, any::<bool>(), 0u64..4, any::<bool>());
    (vec(chunk, 2..12), proptest::option::of(1u64..16))
}

/// Maps `[h, h + size)` at the partition's next free GPA, congruent to `h` modulo 2 MiB
/// so that blocks get used where the host side allows.
fn place<F: DescriptorFormat, M: PhysMemory>(
    s2: &mut Stage2<'_, F, M>,
    g: &mut u64,
    h: u64,
    size: u64,
) -> Result<(), alloc::string::String> {
    *g = g.next_multiple_of(MIB2) + h % MIB2;
    let r = s2.map(Gpa::new(*g), Hpa::new(h), size, Perms::RWX, MemType::Normal);
    *g += size;
    r.map_err(|e| format!("map {h:#x}+{size:#x}: {e}"))
}

/// Two partitions whose RAM comes from a random disjoint split of one host range never
/// map the same host frame; with a channel configured, the channel's frames are the
/// only overlap. Finally a deliberately shared page shows the check can fail.
pub fn disjoint_partitions<F: DescriptorFormat + Clone>(format: &F) {
    let ram_gpa = ((1u64 << format.ipa_bits()) / 4) & !(MIB2 - 1);
    run("disjoint_partitions", chunks(), |(chunks, channel)| {
        let fx = Fixture::new(1024);
        let (mut a, mut b) = (fx.stage2(format.clone()), fx.stage2(format.clone()));
        let (mut ga, mut gb, mut h) = (ram_gpa, ram_gpa, HOST_BASE);
        for &(pages, blocks, gap, to_a) in &chunks {
            if blocks {
                h = h.next_multiple_of(MIB2);
            }
            let size = if blocks {
                (pages % 3 + 1) * MIB2
            } else {
                pages * PAGE_SIZE
            };
            match to_a {
                true => place(&mut a, &mut ga, h, size)?,
                false => place(&mut b, &mut gb, h, size)?,
            }
            h += size + gap * PAGE_SIZE;
        }
        let shared = channel.map(|pages| to_range((h, h + pages * PAGE_SIZE)));
        if let Some(ch) = shared {
            place(&mut a, &mut ga, h, ch.size)?;
            place(&mut b, &mut gb, h, ch.size)?;
        }
        let overlaps = host_overlaps(&a, &b);
        let want: Vec<_> = shared.into_iter().collect();
        ensure(overlaps == want, || {
            format!("host overlap {overlaps:?}, expected {want:?}")
        })?;
        // A misconfiguration: B also maps the first page A owns. It must be caught.
        let Some(stolen) = host_ranges(&a).first().map(|r| r.start) else {
            return Ok(());
        };
        place(&mut b, &mut gb, stolen.as_u64(), PAGE_SIZE)?;
        let caught = host_overlaps(&a, &b);
        ensure(caught.iter().any(|r| r.contains(stolen)), || {
            format!("shared {stolen} not caught: {caught:?}")
        })
    });
}

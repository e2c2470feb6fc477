//! Core's stage-2 conformance checks, run with the VMSAv8-64 stage-2 format.

use bulkhead_aarch64::stage2::Aarch64Stage2;
use bulkhead_core::stage2::conformance;

/// The default: 40-bit IPA, level-1 start, two concatenated root tables.
fn default() -> Aarch64Stage2 {
    Aarch64Stage2::new()
}

#[test]
fn descriptor_roundtrip() {
    conformance::descriptor_roundtrip(&default());
}

#[test]
fn block_selection() {
    conformance::block_selection(&default());
}

#[test]
fn refusals() {
    conformance::refusals(&default());
}

#[test]
fn out_of_frames() {
    conformance::out_of_frames(&default());
}

#[test]
fn map_translate() {
    conformance::map_translate(&default());
}

#[test]
fn unmap_undoes_map() {
    conformance::unmap_undoes_map(&default());
}

#[test]
fn protect_changes_only_range() {
    conformance::protect_changes_only_range(&default());
}

#[test]
fn disjoint_partitions() {
    conformance::disjoint_partitions(&default());
}

#[test]
fn other_start_levels() {
    // Level 1 with one root table, level 1 with a 4-entry root, level 0, level 2.
    for (ipa, pa) in [(39, 40), (32, 32), (48, 48), (44, 44), (30, 32)] {
        conformance::run_all(&Aarch64Stage2::with_sizes(ipa, pa).unwrap());
    }
}

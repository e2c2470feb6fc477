//! Core's stage-2 conformance checks, run with the AMD nested-paging format.

use bulkhead_core::stage2::conformance;
use bulkhead_x86_64::npt::Npt;

#[test]
fn descriptor_roundtrip() {
    conformance::descriptor_roundtrip(&Npt::new());
}

#[test]
fn block_selection() {
    conformance::block_selection(&Npt::new());
}

#[test]
fn refusals() {
    conformance::refusals(&Npt::new());
}

#[test]
fn out_of_frames() {
    conformance::out_of_frames(&Npt::new());
}

#[test]
fn map_translate() {
    conformance::map_translate(&Npt::new());
}

#[test]
fn unmap_undoes_map() {
    conformance::unmap_undoes_map(&Npt::new());
}

#[test]
fn protect_changes_only_range() {
    conformance::protect_changes_only_range(&Npt::new());
}

#[test]
fn disjoint_partitions() {
    conformance::disjoint_partitions(&Npt::new());
}

#[test]
fn cpus_without_1g_pages() {
    conformance::run_all(&Npt::with(40, false).unwrap());
}

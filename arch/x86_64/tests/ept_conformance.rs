//! Core's stage-2 conformance checks, run with the Intel EPT format.

use bulkhead_core::stage2::conformance;
use bulkhead_x86_64::ept::Ept;

#[test]
fn descriptor_roundtrip() {
    conformance::descriptor_roundtrip(&Ept::new());
}

#[test]
fn block_selection() {
    conformance::block_selection(&Ept::new());
}

#[test]
fn refusals() {
    conformance::refusals(&Ept::new());
}

#[test]
fn out_of_frames() {
    conformance::out_of_frames(&Ept::new());
}

#[test]
fn map_translate() {
    conformance::map_translate(&Ept::new());
}

#[test]
fn unmap_undoes_map() {
    conformance::unmap_undoes_map(&Ept::new());
}

#[test]
fn protect_changes_only_range() {
    conformance::protect_changes_only_range(&Ept::new());
}

#[test]
fn disjoint_partitions() {
    conformance::disjoint_partitions(&Ept::new());
}

#[test]
fn cpus_without_large_pages() {
    // IA32_VMX_EPT_VPID_CAP with a 4-level walk and WB, then adding 2 MiB pages.
    let walk_wb = (1 << 6) | (1 << 14);
    for cap in [walk_wb, walk_wb | (1 << 16)] {
        conformance::run_all(&Ept::from_caps(39, cap).unwrap());
    }
}

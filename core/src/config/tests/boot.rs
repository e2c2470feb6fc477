//! `check_boot`: images, placement, table frames and the hypervisor's footprint.

use super::{check, config, dtc, part, partitions, target};
use crate::config::{check_boot, Config};

const A: u64 = 0x5000_0000;

fn one(extra: &str) -> Config {
    check(&config(&partitions(&[part("alpha", "0", A, extra)]))).expect("valid")
}

fn images<'a>(files: &'a [(&'a str, &'a [u8])]) -> impl Fn(&str) -> Result<&'a [u8], String> + 'a {
    move |name| {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("file \"{name}\" not found"))
    }
}

#[test]
fn images_that_are_there_and_fit_are_placed() {
    let kernel = [1u8; 4096];
    let placements = check_boot(&one(""), &target(), images(&[("heartbeat", &kernel)]), 8192).unwrap();
    assert_eq!(placements[0].kernel.as_u64(), A);
}

#[test]
fn a_missing_or_empty_image_names_partition_and_property() {
    let config = one(r#"initrd = "initrd.gz";"#);
    let kernel = [1u8; 16];
    let missing = check_boot(&config, &target(), images(&[("heartbeat", &kernel)]), 0).unwrap_err();
    assert_eq!(missing.to_string(), r#"/partitions/alpha: initrd: file "initrd.gz" not found"#);
    let empty = check_boot(&config, &target(), images(&[("heartbeat", &kernel), ("initrd.gz", &[])]), 0);
    assert_eq!(empty.unwrap_err().to_string(), r#"/partitions/alpha: initrd: "initrd.gz" is empty"#);
}

#[test]
fn a_partition_dtb_must_be_a_device_tree() {
    let config = one(r#"dtb = "own.dtb";"#);
    let kernel = [1u8; 16];
    let junk = check_boot(&config, &target(), images(&[("heartbeat", &kernel), ("own.dtb", b"junk")]), 0);
    assert_eq!(junk.unwrap_err().to_string(), r#"/partitions/alpha: dtb: "own.dtb" is not a device tree blob"#);
    let dtb = dtc("/dts-v1/; / { };");
    check_boot(&config, &target(), images(&[("heartbeat", &kernel), ("own.dtb", &dtb)]), 0).unwrap();
}

#[test]
fn images_that_do_not_fit_are_refused_by_the_targets_placement() {
    let kernel = vec![1u8; 15 << 20];
    let err = check_boot(&one(""), &target(), images(&[("heartbeat", &kernel)]), 0).unwrap_err();
    assert_eq!(err.to_string(), "/partitions/alpha: kernel: the images do not fit");
}

#[test]
fn stage2_tables_beyond_the_frame_pool_are_refused() {
    let mut t = target();
    t.table_frames = Some(|_| Ok(2000));
    let kernel = [1u8; 16];
    let err = check_boot(&one(""), &t, images(&[("heartbeat", &kernel)]), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/partitions/alpha: the partitions' stage-2 tables need 2000 table frames up to here; the hypervisor reserves 1024"
    );
}

#[test]
fn a_hypervisor_region_too_small_for_image_bundle_heap_and_tables_is_refused() {
    let kernel = [1u8; 16];
    let big_bundle = 60 << 20;
    let err = check_boot(&one(""), &target(), images(&[("heartbeat", &kernel)]), big_bundle).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/hypervisor: memory: HPA:0x40000000..HPA:0x44000000 does not hold the hypervisor's image, 62914560-byte bundle, heap and stage-2 tables (HPA:0x40080000..HPA:0x44980000: image 1024 KiB, heap 8192 KiB, tables 4096 KiB)"
    );
}

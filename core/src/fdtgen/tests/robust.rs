//! Bad input gives an error value naming the problem, never a panic.

use proptest::prelude::*;

use super::copy::{platform_dtb, with_devices};
use super::{spec, CONSOLE};
use crate::dt::Tree;
use crate::fdtgen::*;

fn property_error(result: Result<Vec<u8>, FdtGenError>) -> (String, String) {
    match result {
        Err(FdtGenError::Property { path, property, .. }) => (path, property),
        other => panic!("expected a property error, got {other:?}"),
    }
}

#[test]
fn unknown_device_path() {
    let platform = platform_dtb();
    for path in ["/nope@1234", "/soc/nope", "pl011@9000000", "/", ""] {
        let err = with_devices(&platform, &[path]).unwrap_err();
        assert_eq!(err, FdtGenError::UnknownDevice { path: path.to_string() });
    }
    let msg = with_devices(&platform, &["/nope@1234"]).unwrap_err().to_string();
    assert_eq!(msg, "/nope@1234: no such node in the platform DTB");
}

#[test]
fn foreign_references_are_refused() {
    let platform = platform_dtb();
    let (path, property) = property_error(with_devices(&platform, &["/soc/mmc@7e300000"]));
    assert_eq!((path.as_str(), property.as_str()), ("/soc/mmc@7e300000", "resets"));
    let (path, property) = property_error(with_devices(&platform, &["/button@9070000"]));
    assert_eq!((path.as_str(), property.as_str()), ("/button@9070000", "interrupt-parent"));
    let (path, property) = property_error(with_devices(&platform, &["/hole/dev@100"]));
    assert_eq!((path.as_str(), property.as_str()), ("/hole/dev@100", "reg"));
}

#[test]
fn unparsable_platform() {
    let mut s = spec();
    let garbage = [0u8; 64];
    s.platform = Some(&garbage);
    assert!(matches!(generate(&s), Err(FdtGenError::PlatformDtb(_))));
    let empty: [u8; 0] = [];
    s.platform = Some(&empty);
    assert!(matches!(generate(&s), Err(FdtGenError::PlatformDtb(_))));
    let mut truncated = platform_dtb();
    truncated.truncate(truncated.len() / 2);
    s.platform = Some(&truncated);
    let err = generate(&s).unwrap_err();
    assert!(err.to_string().starts_with("platform DTB unusable at byte"), "{err}");
}

#[test]
fn console_and_device_conflicts() {
    let platform = platform_dtb();
    let mut s = spec();
    s.platform = Some(&platform);
    s.console = GuestConsole::Passthrough("/pl011@9000000".to_string());
    let err = generate(&s).unwrap_err();
    assert_eq!(err, FdtGenError::ConsoleNotPassedThrough { path: "/pl011@9000000".to_string() });
    s.console = GuestConsole::Virtual(CONSOLE);
    s.devices = vec!["/pl011@9000000".to_string()];
    let err = generate(&s).unwrap_err();
    assert_eq!(err, FdtGenError::DuplicateNode { name: "pl011@9000000".to_string() });
    let mut s = spec();
    s.devices = vec!["/pl011@9000000".to_string()];
    assert_eq!(
        generate(&s).unwrap_err(),
        FdtGenError::NoPlatform { path: "/pl011@9000000".to_string() }
    );
}

#[test]
fn bad_spec_fields() {
    let field = |s: GuestDtSpec<'_>| match generate(&s) {
        Err(FdtGenError::Spec { field, .. }) => field,
        other => panic!("expected a spec error, got {other:?}"),
    };
    let mut s = spec();
    s.vcpus = 0;
    assert_eq!(field(s), "vcpus");
    let mut s = spec();
    s.vcpus = MAX_VCPUS + 1;
    assert_eq!(field(s), "vcpus");
    let mut s = spec();
    s.memory.clear();
    assert_eq!(field(s), "memory");
    let mut s = spec();
    s.console = GuestConsole::Virtual(VirtualConsole { intid: 27, ..CONSOLE });
    assert_eq!(field(s), "console");
    let mut s = spec();
    s.bootargs = Some("a\0b".to_string());
    assert_eq!(field(s), "bootargs");
    let mut s = spec();
    s.name = "x\0".to_string();
    assert_eq!(field(s), "name");
    let mut s = spec();
    s.gic.gicr_base = crate::addr::GuestPhysAddr::new(u64::MAX - 0x1_0000);
    assert_eq!(field(s), "gic");
}

/// Generates with every device of the test platform from a possibly damaged blob.
fn try_all(platform: &[u8]) {
    let _ = with_devices(platform, &["/pl011@9000000", "/virtio_mmio@a003e00", "/spi@9060000"]);
    let _ = with_devices(platform, &["/soc/serial@7e201000"]);
}

#[test]
fn every_truncation_and_byte_flip_is_survived() {
    let platform = platform_dtb();
    for len in 0..platform.len() {
        try_all(&platform[..len]);
    }
    for at in 0..platform.len() {
        let mut damaged = platform.clone();
        damaged[at] ^= 0xff;
        try_all(&damaged);
    }
}

#[test]
fn generated_blob_passes_own_check() {
    let platform = platform_dtb();
    Tree::parse(&platform).unwrap();
    let blob = with_devices(&platform, &["/pl011@9000000", "/spi@9060000"]).unwrap();
    Tree::parse(&blob).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_damage_is_survived(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut platform = platform_dtb_cached().to_vec();
        for (at, byte) in edits {
            let at = at % platform.len();
            platform[at] = byte;
        }
        try_all(&platform);
    }
}

fn platform_dtb_cached() -> &'static [u8] {
    static BLOB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BLOB.get_or_init(platform_dtb)
}

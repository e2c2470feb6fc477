//! Malformed blobs: one clear error each, and never a panic (property-tested).

use proptest::prelude::*;

use super::{board, board_config_dtb, board_platform_dtb, dtc, Raw, BOARD_CONFIG};
use crate::config::{parse, validate, Platform};

fn parse_err(blob: &[u8]) -> String {
    parse(blob).expect_err("blob was accepted").to_string()
}

#[test]
fn truncated_blob() {
    let blob = dtc(BOARD_CONFIG);
    let total = blob.len();
    assert_eq!(
        parse_err(&blob[..total - 1]),
        format!("/: truncated device tree blob: header says {total} bytes, got {}", total - 1)
    );
    assert_eq!(
        parse_err(&blob[..39]),
        "/: truncated device tree blob: 39 bytes, shorter than a header"
    );
    assert_eq!(parse_err(&[]), "/: truncated device tree blob: 0 bytes, shorter than a header");
}

#[test]
fn wrong_magic() {
    let mut blob = dtc(BOARD_CONFIG);
    blob[0] = 0xde;
    assert_eq!(
        parse_err(&blob),
        "/: not a device tree blob (magic 0xde0dfeed, expected 0xd00dfeed)"
    );
    assert_eq!(
        parse_err(BOARD_CONFIG.as_bytes()),
        "/: not a device tree blob (magic 0x2f2f2044, expected 0xd00dfeed)"
    );
}

#[test]
fn unsupported_version() {
    let mut blob = dtc(BOARD_CONFIG);
    blob[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(parse_err(&blob), "/: unsupported device tree version 16 (need 17)");
}

#[test]
fn blocks_outside_the_blob() {
    let mut blob = dtc(BOARD_CONFIG);
    blob[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        parse_err(&blob),
        "/: malformed device tree blob: structure block lies outside the blob"
    );
}

/// A root with one property, as the schema wants it, for the raw cases below.
fn raw_root(raw: &mut Raw) -> &mut Raw {
    raw.begin("").prop("compatible", b"bulkhead,config-v1\0")
}

#[test]
fn structure_errors_name_the_node() {
    let mut raw = Raw::default();
    raw_root(&mut raw).begin("hypervisor").token(7);
    assert_eq!(
        parse_err(&raw.blob()),
        "/hypervisor: malformed device tree blob: unknown token 0x7"
    );

    let mut raw = Raw::default();
    raw_root(&mut raw).begin("partitions");
    assert_eq!(
        parse_err(&raw.blob()),
        "/partitions: malformed device tree blob: structure block ends inside a node"
    );

    let mut raw = Raw::default();
    raw_root(&mut raw).begin("a").end().prop("late", &[]).end().token(9);
    assert_eq!(
        parse_err(&raw.blob()),
        r#"/: malformed device tree blob: property "late" after a child node"#
    );

    let mut raw = Raw::default();
    raw_root(&mut raw).end().end().token(9);
    assert_eq!(
        parse_err(&raw.blob()),
        "/: malformed device tree blob: expected the end of the structure after the root"
    );

    let mut raw = Raw::default();
    raw.begin("root");
    assert_eq!(parse_err(&raw.blob()), "/: malformed device tree blob: the root node has a name");
}

#[test]
fn property_errors() {
    let mut raw = Raw::default();
    raw_root(&mut raw).token(3).token(1000).token(0);
    assert_eq!(
        parse_err(&raw.blob()),
        "/: malformed device tree blob: property runs past the structure block"
    );

    let mut raw = Raw::default();
    raw_root(&mut raw).token(3).token(0).token(5000).end().token(9);
    assert_eq!(
        parse_err(&raw.blob()),
        "/: malformed device tree blob: property name is not a string in the strings block"
    );

    let mut raw = Raw::default();
    raw_root(&mut raw).prop("compatible", b"x\0").end().token(9);
    assert_eq!(parse_err(&raw.blob()), "/: compatible: property given twice");
}

#[test]
fn nesting_is_bounded() {
    let mut raw = Raw::default();
    raw_root(&mut raw);
    for _ in 0..40 {
        raw.begin("n");
    }
    let err = parse_err(&raw.blob());
    assert!(err.ends_with(": malformed device tree blob: nodes nested deeper than 32"), "{err}");
}

/// One way to damage a blob.
#[derive(Clone, Debug)]
enum Damage {
    /// Cut the blob to this fraction (per mille) of its length.
    Truncate(u16),
    /// XOR one byte.
    Flip(usize, u8),
    /// Overwrite a header word.
    Header(usize, u32),
    /// Overwrite a structure-block word.
    Word(usize, u32),
}

/// Words worth trying: tokens, small counts, offsets near the ends, anything.
fn word() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..16, (0u32..64).prop_map(|v| v * 4), Just(u32::MAX), any::<u32>()]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0u16..1000).prop_map(Damage::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Damage::Flip(at, x)),
        (0usize..10, word()).prop_map(|(i, w)| Damage::Header(i, w)),
        (any::<usize>(), word()).prop_map(|(i, w)| Damage::Word(i, w)),
    ]
}

fn apply(blob: &mut Vec<u8>, damage: &Damage) {
    let len = blob.len().max(1);
    let struct_at =
        blob.get(8..12).map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as usize);
    let mut put = |at: usize, w: u32| {
        if let Some(slot) = blob.get_mut(at..at + 4) {
            slot.copy_from_slice(&w.to_be_bytes());
        }
    };
    match *damage {
        Damage::Truncate(per_mille) => blob.truncate(len * per_mille as usize / 1000),
        Damage::Flip(at, x) => {
            if let Some(b) = blob.get_mut(at % len) {
                *b ^= x;
            }
        }
        Damage::Header(i, w) => put(i * 4, w),
        Damage::Word(i, w) => put(struct_at.saturating_add(i % (len / 4).max(1) * 4), w),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn damaged_config_never_panics(damages in proptest::collection::vec(damage(), 1..6)) {
        let mut blob = board_config_dtb().to_vec();
        for d in &damages {
            apply(&mut blob, d);
        }
        if let Ok(config) = parse(&blob) {
            let _ = validate(&config, &board(), &super::target());
        }
    }

    #[test]
    fn damaged_platform_never_panics(damages in proptest::collection::vec(damage(), 1..6)) {
        let mut blob = board_platform_dtb().to_vec();
        for d in &damages {
            apply(&mut blob, d);
        }
        if let Ok(platform) = Platform::from_dtb(&blob) {
            let config = parse(board_config_dtb()).expect("the demo config parses");
            let _ = validate(&config, &platform, &super::target());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&bytes);
        let _ = Platform::from_dtb(&bytes);
    }
}

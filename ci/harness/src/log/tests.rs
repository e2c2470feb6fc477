//! Framing without an ELF, and real defmt decoding against a synthetic ELF table.

use super::*;
use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

fn feed_all(decoder: &mut Decoder, pieces: &[&[u8]]) -> Vec<String> {
    pieces.iter().flat_map(|p| decoder.feed(p)).collect()
}

#[test]
fn text_passes_through_line_by_line() {
    let mut d = Decoder::text_only();
    assert_eq!(d.feed(b"one\r\ntwo\n\0three"), vec!["one", "two"]);
    assert_eq!(d.finish().as_deref(), Some("three"));
    assert_eq!(d.finish(), None);
}

#[test]
fn lines_split_across_feeds_are_joined() {
    let mut d = Decoder::text_only();
    assert!(d.feed(b"[alpha] hb").is_empty());
    assert!(d.feed(b" 3 t=").is_empty());
    assert_eq!(d.feed(b"42\r"), Vec::<String>::new());
    assert_eq!(d.feed(b"\n[beta]"), vec!["[alpha] hb 3 t=42"]);
    assert_eq!(d.feed(b" x\n"), vec!["[beta] x"]);
}

#[test]
fn empty_lines_are_kept() {
    let mut d = Decoder::text_only();
    assert_eq!(d.feed(b"a\n\r\nb\n"), vec!["a", "", "b"]);
}

#[test]
fn frames_are_cut_between_soh_and_nul() {
    let mut f = Framer::new();
    let chunks = f.push(b"text\n\x01\x05\x06\x07\x00after\n");
    assert_eq!(
        chunks,
        vec![
            Chunk::Text("text".into()),
            Chunk::Frame(vec![5, 6, 7]),
            Chunk::Text("after".into())
        ]
    );
}

#[test]
fn frame_split_across_feeds_and_inside_a_text_line() {
    let mut f = Framer::new();
    let mut chunks = f.push(b"[alpha] hel\x01\x0a");
    chunks.extend(f.push(b"\x0b\r\n"));
    chunks.extend(f.push(b"\x00lo\n"));
    assert_eq!(
        chunks,
        vec![
            Chunk::Frame(vec![0x0a, 0x0b, b'\r', b'\n']),
            Chunk::Text("[alpha] hello".into())
        ]
    );
}

#[test]
fn back_to_back_frames() {
    let mut f = Framer::new();
    assert_eq!(
        f.push(b"\x01\x02\x00\x01\x03\x00"),
        vec![Chunk::Frame(vec![2]), Chunk::Frame(vec![3])]
    );
}

#[test]
fn overlong_frame_gives_back_the_stream() {
    let mut f = Framer::new();
    let mut bytes = vec![FRAME_START];
    bytes.extend(std::iter::repeat_n(0x41, MAX_FRAME + 1));
    bytes.extend(b"\nnext\n");
    let chunks = f.push(&bytes);
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert_eq!(chunks[0], Chunk::Overlong(vec![0x41; 16]));
    assert_eq!(chunks[2], Chunk::Text("next".into()));
}

#[test]
fn text_only_decoder_shows_frames_as_undecodable() {
    let mut d = Decoder::text_only();
    assert!(!d.has_table());
    assert_eq!(
        d.feed(b"\x01\xab\x01\x00"),
        vec!["<defmt frame, no table to decode it: ab 01>"]
    );
}

#[test]
fn elf_without_defmt_table_passes_text_through() {
    let d = Decoder::new(&elf(&[])).expect("an ELF without .defmt is a text-log build");
    assert!(!d.has_table());
}

#[test]
fn non_elf_is_an_error() {
    assert!(Decoder::new(b"not an elf").is_err());
}

#[test]
fn defmt_frames_decode_with_level_and_arguments() {
    let mut d = Decoder::new(&elf(&TABLE)).expect("synthetic table parses");
    assert!(d.has_table());
    let started = frame(&[&1u16.to_le_bytes(), &str_arg("alpha"), &0u32.to_le_bytes()]);
    let faulted = frame(&[
        &2u16.to_le_bytes(),
        &str_arg("beta-long-name"),
        &0x5800_0000u64.to_le_bytes(),
    ]);
    let mut stream = b"[alpha] hb 1 t=2\n".to_vec();
    stream.extend(&started);
    stream.extend(b"[alpha] hb 2");
    stream.extend(&faulted);
    stream.extend(b" t=3\n");
    let (a, b) = stream.split_at(20);
    let lines = feed_all(&mut d, &[a, b]);
    assert_eq!(
        lines,
        vec![
            "[alpha] hb 1 t=2",
            "INFO  partition alpha started on cpu 0",
            "ERROR partition beta-long-name faulted: ipa=GPA:0x58000000",
            "[alpha] hb 2 t=3",
        ]
    );
}

#[test]
fn long_runs_use_every_rzcobs_group_kind() {
    // 300 non-zero bytes: two 134-byte groups, then a 32-byte run group.
    let long = "x".repeat(300);
    let mut d = Decoder::new(&elf(&TABLE)).unwrap();
    let lines = d.feed(&frame(&[&3u16.to_le_bytes(), &str_arg(&long)]));
    assert_eq!(lines, vec![long]);
}

#[test]
fn malformed_and_unknown_frames_become_marked_lines() {
    let mut d = Decoder::new(&elf(&TABLE)).unwrap();
    let unknown = frame(&[&9u16.to_le_bytes()]);
    let lines = feed_all(&mut d, &[&unknown, b"\x01\xff\x00"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("<malformed defmt frame")),
        "{lines:?}"
    );
}

/// Index, tag and format string of the synthetic log statements.
const TABLE: [(u64, &str, &str); 3] = [
    (1, "defmt_info", "partition {=str} started on cpu {=u32}"),
    (
        2,
        "defmt_error",
        "partition {=str} faulted: ipa=GPA:{=u64:#x}",
    ),
    (3, "defmt_println", "{=str}"),
];

/// A relocatable ELF with a `.defmt` section holding `entries`, as the defmt macros and
/// linker script would lay them out (symbol value = index); no section if `entries` is empty.
fn elf(entries: &[(u64, &str, &str)]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
    let text = obj.add_section(vec![], b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &[0; 4], 4);
    if !entries.is_empty() {
        let defmt = obj.add_section(vec![], b".defmt".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(defmt, &[0; 16], 1);
        for (index, tag, format) in entries {
            let name = format!(
                r#"{{"package":"bulkhead","tag":"{tag}","data":"{format}","disambiguator":"{index}","crate_name":"bulkhead"}}"#
            );
            add_symbol(&mut obj, &name, *index, SymbolSection::Section(defmt));
        }
        add_symbol(&mut obj, "_defmt_version_ = 4", 0, SymbolSection::Absolute);
        add_symbol(
            &mut obj,
            "_defmt_encoding_ = rzcobs",
            0,
            SymbolSection::Absolute,
        );
    }
    obj.write().expect("writing the synthetic ELF")
}

fn add_symbol(obj: &mut Object<'_>, name: &str, value: u64, section: SymbolSection) {
    obj.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size: 1,
        kind: SymbolKind::Data,
        scope: SymbolScope::Compilation,
        weak: false,
        section,
        flags: SymbolFlags::None,
    });
}

/// A `{=str}` argument on the wire: u32 length, then the bytes.
fn str_arg(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u32).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

/// A complete wire frame: SOH, the rzCOBS encoding of the concatenated parts, NUL.
fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![FRAME_START];
    out.extend(rzcobs_encode(&parts.concat()));
    out.push(FRAME_END);
    out
}

/// rzCOBS ("reverse zerocompressing COBS") encoder, written from the format: the stream is
/// groups of data bytes each followed by a control byte, decoded back to front. Control
/// `0x01..=0x7f`: seven positions, bit k set = position k is zero; `0x80 + (r - 7)`: r
/// non-zero bytes then a zero; `0xff`: 134 non-zero bytes. The message is padded with
/// zeros, which the defmt decoder ignores after the last argument.
fn rzcobs_encode(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < msg.len() {
        let run = msg[p..].iter().take_while(|&&b| b != 0).count();
        if run >= 134 {
            out.extend(&msg[p..p + 134]);
            out.push(0xff);
            p += 134;
        } else if run >= 7 {
            out.extend(&msg[p..p + run]);
            out.push(0x80 | (run - 7) as u8);
            p += run + 1;
        } else {
            let mut mask = 0u8;
            for k in 0..7 {
                match msg.get(p + k).copied().unwrap_or(0) {
                    0 => mask |= 1 << k,
                    b => out.push(b),
                }
            }
            out.push(mask);
            p += 7;
        }
    }
    out
}

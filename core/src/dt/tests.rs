//! Host tests of the reader: walking, lookup, values, translation, and malformed blobs
//! (every truncation and byte flip) giving an error, never a panic.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;

/// A hand-built blob: tokens and strings exactly as given, for the malformed cases.
#[derive(Default)]
pub struct Raw {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl Raw {
    /// A raw structure-block word.
    pub fn token(&mut self, token: u32) -> &mut Self {
        self.structs.extend_from_slice(&token.to_be_bytes());
        self
    }

    /// `FDT_BEGIN_NODE` with `name`, padded.
    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.token(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad()
    }

    /// `FDT_PROP` named `name` with `value`, padded.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.token(3).token(value.len() as u32).token(offset);
        self.structs.extend_from_slice(value);
        self.pad()
    }

    /// `FDT_END_NODE`.
    pub fn end(&mut self) -> &mut Self {
        self.token(2)
    }

    fn pad(&mut self) -> &mut Self {
        while self.structs.len() & 3 != 0 {
            self.structs.push(0);
        }
        self
    }

    /// Header (version 17), empty reservation map, structure block, strings block.
    pub fn blob(&self) -> Vec<u8> {
        let off_rsv = 40u32;
        let off_struct = off_rsv + 16;
        let off_strings = off_struct + self.structs.len() as u32;
        let total = off_strings + self.strings.len() as u32;
        let header = [
            0xd00d_feed,
            total,
            off_struct,
            off_strings,
            off_rsv,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ];
        let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&self.structs);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

/// Big-endian cells as a property value.
fn be(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// A small platform-like tree: a translating bus, phandles, an identity bus, a PCI-like
/// bus and a NOP token.
fn sample() -> Vec<u8> {
    let mut raw = Raw::default();
    raw.begin("").prop("compatible", b"test,board\0").prop("#address-cells", &be(&[2]));
    raw.prop("#size-cells", &be(&[2])).prop("interrupt-parent", &be(&[1]));
    raw.begin("intc@8000000").prop("compatible", b"arm,gic-v3\0").prop("phandle", &be(&[1]));
    raw.prop("reg", &be(&[0, 0x800_0000, 0, 0x1_0000])).end();
    raw.token(4); // FDT_NOP
    raw.begin("soc").prop("#address-cells", &be(&[1])).prop("#size-cells", &be(&[1]));
    raw.prop("ranges", &be(&[0x7e00_0000, 0, 0xfe00_0000, 0x180_0000]));
    raw.begin("serial@7e201000").prop("compatible", b"arm,pl011\0arm,primecell\0");
    raw.prop("reg", &be(&[0x7e20_1000, 0x200])).prop("linux,phandle", &be(&[5])).end();
    raw.begin("serial").prop("reg", &be(&[0x7e20_2000, 0x200])).end().end();
    raw.begin("flat").prop("#address-cells", &be(&[2])).prop("ranges", &[]);
    raw.begin("dev@100").prop("reg", &be(&[0, 0x100, 0, 0x10])).end().end();
    raw.begin("pci").prop("#address-cells", &be(&[3])).prop("ranges", &be(&[0; 7])).end();
    raw.end().token(9);
    raw.blob()
}

#[test]
fn walks_nodes_with_paths_and_properties() {
    let blob = sample();
    let tree = Tree::parse(&blob).unwrap();
    let paths: Vec<String> = tree.nodes().map(Node::path).collect();
    assert_eq!(
        paths,
        [
            "/",
            "/intc@8000000",
            "/soc",
            "/soc/serial@7e201000",
            "/soc/serial",
            "/flat",
            "/flat/dev@100",
            "/pci"
        ]
    );
    let root = tree.root();
    assert_eq!((root.name(), root.children().len()), ("", 4));
    let names: Vec<&str> = root.props().map(|p| p.name).collect();
    assert_eq!(names, ["compatible", "#address-cells", "#size-cells", "interrupt-parent"]);
    let uart = tree.find("/soc/serial@7e201000").unwrap();
    assert_eq!((uart.base_name(), uart.unit_address()), ("serial", Some("7e201000")));
    assert_eq!(tree.find("/soc/serial").unwrap().unit_address(), None);
    assert_eq!(root.child("soc").map(Node::path).as_deref(), Some("/soc"));
    assert!(root.child("intc").is_none(), "child() matches names exactly");
}

#[test]
fn finds_nodes_by_path_and_phandle() {
    let blob = sample();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(tree.find("/").map(Node::path).as_deref(), Some("/"));
    assert_eq!(tree.find("/intc").map(Node::path).as_deref(), Some("/intc@8000000"));
    // An exact name wins over a loose match.
    assert_eq!(tree.find("/soc/serial").map(Node::path).as_deref(), Some("/soc/serial"));
    assert_eq!(tree.find("//soc//serial@7e201000/").map(Node::name), Some("serial@7e201000"));
    for missing in ["", "soc", "/nope", "/soc/serial@1", "/intc@8000000/x"] {
        assert!(tree.find(missing).is_none(), "{missing}");
    }
    let chain: Vec<String> = tree.chain("/flat/dev").unwrap().iter().map(|n| n.path()).collect();
    assert_eq!(chain, ["/", "/flat", "/flat/dev@100"]);
    assert_eq!(tree.by_phandle(1).map(Node::path).as_deref(), Some("/intc@8000000"));
    assert_eq!(tree.by_phandle(5).map(Node::path).as_deref(), Some("/soc/serial@7e201000"));
    assert!(tree.by_phandle(2).is_none());
}

#[test]
fn reads_values_with_sizes_checked() {
    let mut raw = Raw::default();
    raw.begin("").begin("n").prop("one", &be(&[7])).prop("two", &be(&[1, 2]));
    raw.prop("odd", &[1, 2, 3]).prop("s", b"abc\0").prop("list", b"a\0bc\0");
    raw.prop("empty", &[]).prop("bad", b"a\0\0").prop("compatible", b"x,y\0v,w\0");
    raw.end().end().token(9);
    let blob = raw.blob();
    let tree = Tree::parse(&blob).unwrap();
    let n = tree.find("/n").unwrap();
    assert_eq!(n.u32("one"), Ok(Some(7)));
    assert_eq!(n.u32("absent"), Ok(None));
    let err = n.u32("two").unwrap_err();
    assert_eq!(err.to_string(), "/n: two: expected one cell (4 bytes), got 8 bytes");
    assert_eq!((n.u64("one"), n.u64("two")), (Ok(Some(7)), Ok(Some(0x1_0000_0002))));
    assert!(n.u64("odd").is_err() && n.u64("list").is_err());
    assert_eq!(n.cells("two"), Ok(Some(vec![1, 2])));
    assert_eq!(n.cells("odd").unwrap_err().reason, "expected a list of cells, got 3 bytes");
    assert_eq!(n.entries("two", 2), Ok(vec![1, 2]));
    assert_eq!(n.entries("absent", 2), Ok(vec![]));
    let err = n.entries("empty", 1).unwrap_err();
    assert_eq!(err.reason, "expected entries of 1 cell, got 0 bytes");
    assert_eq!(n.entries("two", 3).unwrap_err().reason, "expected entries of 3 cells, got 8 bytes");
    assert_eq!(n.string("s"), Ok(Some("abc")));
    assert_eq!(n.string("list").unwrap_err().reason, "expected a non-empty string");
    assert_eq!(n.strings("list"), Ok(Some(vec!["a", "bc"])));
    assert!(n.strings("bad").is_err() && n.strings("empty").is_err());
    assert!(n.is_compatible(&["v,w"]) && !n.is_compatible(&["x"]));
    assert_eq!(n.cell_sizes(), Ok((2, 1)), "the Devicetree Specification defaults");
}

#[test]
fn translates_reg_through_ranges() {
    let blob = sample();
    let tree = Tree::parse(&blob).unwrap();
    let (root, soc) = (tree.root(), tree.find("/soc").unwrap());
    let uart = tree.find("/soc/serial@7e201000").unwrap();
    assert_eq!(uart.reg(soc.cell_sizes().unwrap()), Ok(vec![(0x7e20_1000, 0x200)]));
    let window = Window { child: 0x7e00_0000, parent: 0xfe00_0000, size: 0x180_0000 };
    let level = soc.ranges(root.cell_sizes().unwrap().0).unwrap().unwrap();
    assert_eq!(level, Level::Windows(vec![window]));
    let levels = [Level::Identity, level];
    assert_eq!(translate(&levels[1..], 0x7e20_1000, 0x200), Some(0xfe20_1000));
    assert_eq!(translate(&levels[1..], 0x7f7f_ff00, 0x200), None, "past the window");
    assert_eq!(translate(&levels, 0x7e00_0000, 1), Some(0xfe00_0000));
    let flat = tree.find("/flat").unwrap();
    assert_eq!(flat.ranges(2), Ok(Some(Level::Identity)));
    assert_eq!(tree.find("/pci").unwrap().ranges(2), Ok(None), "3 address cells");
    assert_eq!(tree.find("/intc").unwrap().ranges(2), Ok(None), "no ranges");
    let err = uart.reg((3, 1)).unwrap_err();
    assert_eq!(err.reason, "cannot read addresses of 3 cells and sizes of 1 cells");
    assert_eq!(tree.find("/pci").unwrap().reg((1, 1)), Ok(vec![]), "no reg");
}

#[test]
fn errors_name_the_offset_and_node() {
    let mut raw = Raw::default();
    raw.begin("").begin("a").token(7);
    let blob = raw.blob();
    let err = Tree::parse(&blob).unwrap_err();
    // Header, reservation map, then the two FDT_BEGIN_NODE tokens and their names.
    assert_eq!(err.offset, 40 + 16 + 8 + 8);
    assert_eq!(err.to_string(), "/a: malformed device tree blob: unknown token 0x7");
    let err = Tree::parse(&blob[..30]).unwrap_err();
    assert_eq!((err.offset, err.node.as_str()), (30, "/"));
}

/// Reads everything a consumer might: every property by every accessor, every lookup.
fn read_all(tree: &Tree<'_>) {
    for node in tree.nodes() {
        let cells = node.cell_sizes().unwrap_or((2, 1));
        let _ = (node.reg(cells), node.ranges(2), node.phandle(), tree.find(&node.path()));
        for prop in node.props() {
            let _ = (node.u32(prop.name), node.u64(prop.name), node.strings(prop.name));
            let _ = node.u32(prop.name).map(|p| p.map(|p| tree.by_phandle(p)));
        }
    }
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_or_a_tree() {
    let blob = sample();
    read_all(&Tree::parse(&blob).unwrap());
    for len in 0..blob.len() {
        let err = Tree::parse(&blob[..len]).unwrap_err();
        assert!(err.reason.starts_with("truncated device tree blob"), "{len}: {err}");
    }
    for at in 0..blob.len() {
        let mut damaged = blob.clone();
        damaged[at] ^= 0xff;
        if let Ok(tree) = Tree::parse(&damaged) {
            read_all(&tree);
        }
    }
}

#[test]
fn nesting_is_bounded() {
    // The root and 31 levels below it are fine.
    let mut raw = Raw::default();
    raw.begin("");
    for _ in 1..MAX_DEPTH {
        raw.begin("n");
    }
    for _ in 0..MAX_DEPTH {
        raw.end();
    }
    let blob = raw.token(9).blob();
    assert_eq!(Tree::parse(&blob).unwrap().nodes().count(), MAX_DEPTH);
    let mut raw = Raw::default();
    raw.begin("");
    for _ in 0..MAX_DEPTH {
        raw.begin("n");
    }
    let err = Tree::parse(&raw.blob()).unwrap_err();
    assert!(err.reason.ends_with("nodes nested deeper than 32"), "{err}");
    assert_eq!(err.node.matches('/').count(), MAX_DEPTH);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_damage_is_an_error_or_a_tree(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)
    ) {
        let mut blob = sample();
        for (at, byte) in edits {
            let at = at % blob.len();
            blob[at] = byte;
        }
        if let Ok(tree) = Tree::parse(&blob) {
            read_all(&tree);
        }
    }
}

#[test]
fn matches_paths_without_making_them() {
    let blob = sample();
    let tree = Tree::parse(&blob).unwrap();
    for node in tree.nodes() {
        assert!(node.has_path(&node.path()), "{}", node.path());
    }
    let uart = tree.find("/soc/serial@7e201000").unwrap();
    for other in ["", "/", "soc/serial@7e201000", "/serial@7e201000", "//soc/serial@7e201000"] {
        assert!(!uart.has_path(other), "{other}");
    }
    assert!(!tree.root().has_path("") && !tree.root().has_path("//"));
}

#[test]
fn reads_misaligned_blobs_and_odd_strings_blocks() {
    let blob = sample();
    // The same blob one byte into a buffer: not word-aligned.
    let mut shifted = vec![0u8; blob.len() + 1];
    shifted[1..].copy_from_slice(&blob);
    let paths = |tree: &Tree<'_>| tree.nodes().map(|n| n.path()).collect::<Vec<_>>();
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(paths(&Tree::parse(&shifted[1..]).unwrap()), paths(&tree));
    // A strings block with a name that is not UTF-8: only that name is refused.
    let mut raw = Raw::default();
    raw.begin("").prop("good", b"1\0").end().token(9);
    let mut blob = raw.blob();
    blob.extend_from_slice(b"\xff\0");
    let len = blob.len() as u32;
    blob[4..8].copy_from_slice(&len.to_be_bytes());
    let strings = u32::from_be_bytes(blob[32..36].try_into().unwrap()) + 2;
    blob[32..36].copy_from_slice(&strings.to_be_bytes());
    let tree = Tree::parse(&blob).unwrap();
    assert_eq!(tree.root().props().map(|p| p.name).collect::<Vec<_>>(), ["good"]);
    assert_eq!(tree.root().string("good"), Ok(Some("1")));
    let mut raw = Raw::default();
    raw.begin("").prop("\u{e9}t\u{e9}", b"\0").end().token(9);
    let tree = Tree::parse(&raw.blob()).map(|t| t.root().props().next().map(|p| p.name.len()));
    assert_eq!(tree, Ok(Some(5)));
}

#[test]
fn quotes_names_as_debug_does() {
    for s in ["/pl011@9000000", "a\"b\\c", "tab\there\nnul\0esc\u{1b}del\u{7f}", "", "caf\u{e9}"] {
        assert_eq!(Quoted(s).to_string(), format!("{s:?}"));
    }
}

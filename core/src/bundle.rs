//! The bundle: the config DTB and guest images packed behind the hypervisor image.
//!
//! `cargo bh image` appends one bundle to the hypervisor binary; at boot the hypervisor
//! finds it at the end of its own image and takes the config and every partition image
//! from it. Layout (all integers little-endian):
//!
//! ```text
//! 0x00  magic        b"BHBUNDL1"
//! 0x08  total size   u32  bytes from the bundle start to its (4 KiB padded) end
//! 0x0c  entry count  u32
//! 0x10  entries      64 bytes each:
//!         name   [u8; 48]  UTF-8, NUL-padded (a 48-byte name has no NUL)
//!         offset u64       from the bundle start, 4 KiB aligned, after the table
//!         size   u64
//! ....  entry data, each 4 KiB aligned, zero padding between
//! ```
//!
//! Entry names are `config.dtb` for the compiled config and, for images, exactly the
//! `kernel`/`initrd`/`dtb` strings of the config. [`Bundle::parse`] bounds-checks every
//! field and never panics, whatever the bytes; it does not allocate.

use alloc::vec::Vec;
use core::fmt;

/// The 8 bytes every bundle starts with.
pub const MAGIC: [u8; 8] = *b"BHBUNDL1";
/// Size of the fixed header (magic, total size, entry count).
pub const HEADER_SIZE: usize = 16;
/// Size of one entry in the table.
pub const ENTRY_SIZE: usize = 64;
/// Size of the name field of an entry; the longest name.
pub const NAME_LEN: usize = 48;
/// Alignment of every entry's data and of the bundle's end.
pub const DATA_ALIGN: usize = 4096;
/// Name of the entry holding the compiled config DTB.
pub const CONFIG_ENTRY: &str = "config.dtb";
/// The entry holding the platform description on boards whose firmware hands over no
/// device tree (x86: the hypervisor checks it against the machine at boot).
pub const PLATFORM_ENTRY: &str = "platform.dtb";
/// Most entries a bundle may have (bounds the duplicate-name check at boot).
pub const MAX_ENTRIES: usize = 256;

/// Why bytes are not a bundle, or why a [`BundleWriter`] refused an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// Fewer bytes than the header, or than the total size the header declares.
    Truncated {
        /// Bytes the bundle needs.
        need: u64,
        /// Bytes available.
        have: usize,
    },
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// More than [`MAX_ENTRIES`] entries, or a table larger than the declared total size.
    TableTooLarge {
        /// Declared entry count.
        count: u32,
    },
    /// An entry's name is empty, not UTF-8, or has bytes after its NUL padding starts.
    BadName {
        /// Index of the entry.
        index: usize,
    },
    /// An entry's data lies before the end of the table or past the bundle's end.
    OutOfBounds {
        /// Index of the entry.
        index: usize,
    },
    /// An entry's data offset is not a multiple of [`DATA_ALIGN`].
    Misaligned {
        /// Index of the entry.
        index: usize,
    },
    /// Two entries share a name (`index` is the second).
    Duplicate {
        /// Index of the second entry with the name.
        index: usize,
    },
    /// A name given to [`BundleWriter::add`] is empty, longer than [`NAME_LEN`] bytes or
    /// contains a NUL.
    InvalidName,
    /// A name given to [`BundleWriter::add`] is already in the bundle.
    DuplicateName,
    /// Adding the entry would make the bundle larger than a `u32` can describe, or give
    /// it more than [`MAX_ENTRIES`] entries.
    TooLarge,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { need, have } => {
                write!(f, "truncated bundle: needs {need} bytes, {have} available")
            }
            Self::BadMagic => write!(f, "no bundle magic (BHBUNDL1)"),
            Self::TableTooLarge { count } => {
                write!(
                    f,
                    "entry table of {count} entries does not fit in the bundle"
                )
            }
            Self::BadName { index } => write!(f, "entry {index}: malformed name"),
            Self::OutOfBounds { index } => write!(f, "entry {index}: data outside the bundle"),
            Self::Misaligned { index } => write!(f, "entry {index}: data not 4 KiB aligned"),
            Self::Duplicate { index } => write!(f, "entry {index}: name used twice"),
            Self::InvalidName => {
                write!(f, "entry name must be 1..={NAME_LEN} bytes without NUL")
            }
            Self::DuplicateName => write!(f, "entry name already in the bundle"),
            Self::TooLarge => {
                write!(f, "bundle would exceed 4 GiB or {MAX_ENTRIES} entries")
            }
        }
    }
}

/// One entry of a parsed bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's name.
    pub name: &'a str,
    /// Offset of the data from the bundle start.
    pub offset: u64,
    /// The entry's bytes.
    pub data: &'a [u8],
}

/// A validated bundle borrowed from memory (the bytes behind the hypervisor image).
#[derive(Clone, Copy, Debug)]
pub struct Bundle<'a> {
    /// Exactly the bundle's bytes (`total size` long).
    bytes: &'a [u8],
    /// Number of entries; the table was checked to fit.
    count: usize,
}

impl<'a> Bundle<'a> {
    /// Checks `bytes` and returns the bundle at their start. Bytes past the declared total
    /// size are ignored. Every entry is checked here, so later lookups cannot fail.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let header = bytes.get(..HEADER_SIZE).ok_or(BundleError::Truncated {
            need: HEADER_SIZE as u64,
            have: bytes.len(),
        })?;
        if header[..8] != MAGIC {
            return Err(BundleError::BadMagic);
        }
        let total = read_u32(header, 8);
        let count = read_u32(header, 12);
        let bytes = bytes.get(..total as usize).ok_or(BundleError::Truncated {
            need: u64::from(total),
            have: bytes.len(),
        })?;
        let table_end = table_end(count as usize).ok_or(BundleError::TableTooLarge { count })?;
        if count as usize > MAX_ENTRIES || table_end > bytes.len() {
            return Err(BundleError::TableTooLarge { count });
        }
        let bundle = Self {
            bytes,
            count: count as usize,
        };
        for index in 0..bundle.count {
            let entry = bundle.decode(index, table_end)?;
            if bundle
                .iter_raw(table_end)
                .take(index)
                .any(|e| e.is_ok_and(|e| e.name == entry.name))
            {
                return Err(BundleError::Duplicate { index });
            }
        }
        Ok(bundle)
    }

    /// The data of the entry called `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.entries().find(|e| e.name == name).map(|e| e.data)
    }

    /// The compiled config DTB (the [`CONFIG_ENTRY`] entry).
    pub fn config(&self) -> Option<&'a [u8]> {
        self.get(CONFIG_ENTRY)
    }

    /// All entries in table order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let table_end = HEADER_SIZE + self.count * ENTRY_SIZE;
        // `parse` decoded every entry successfully, so nothing is skipped here.
        self.iter_raw(table_end).filter_map(Result::ok)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the bundle has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bundle's size in bytes (the header's total size).
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    fn iter_raw(
        &self,
        table_end: usize,
    ) -> impl Iterator<Item = Result<Entry<'a>, BundleError>> + 'a {
        let this = *self;
        (0..self.count).map(move |index| this.decode(index, table_end))
    }

    /// Decodes and checks table entry `index`; the table is known to lie in bounds.
    fn decode(&self, index: usize, table_end: usize) -> Result<Entry<'a>, BundleError> {
        let bytes = self.bytes;
        let at = HEADER_SIZE + index * ENTRY_SIZE;
        let raw = &bytes[at..at + ENTRY_SIZE];
        let name = decode_name(&raw[..NAME_LEN]).ok_or(BundleError::BadName { index })?;
        let offset = read_u64(raw, NAME_LEN);
        let size = read_u64(raw, NAME_LEN + 8);
        if offset & (DATA_ALIGN as u64 - 1) != 0 {
            return Err(BundleError::Misaligned { index });
        }
        let end = offset
            .checked_add(size)
            .ok_or(BundleError::OutOfBounds { index })?;
        if offset < table_end as u64 || end > bytes.len() as u64 {
            return Err(BundleError::OutOfBounds { index });
        }
        let data = &bytes[offset as usize..end as usize];
        Ok(Entry { name, offset, data })
    }
}

/// Builds a bundle in memory (host side: `cargo bh image`, tests).
#[derive(Clone, Debug, Default)]
pub struct BundleWriter {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl BundleWriter {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry. Names are 1 to [`NAME_LEN`] bytes of UTF-8 without NUL and unique.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<&mut Self, BundleError> {
        if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
            return Err(BundleError::InvalidName);
        }
        if self.entries.iter().any(|(n, _)| n == name.as_bytes()) {
            return Err(BundleError::DuplicateName);
        }
        if self.entries.len() >= MAX_ENTRIES {
            return Err(BundleError::TooLarge);
        }
        let sizes = self
            .entries
            .iter()
            .map(|(_, d)| d.len())
            .chain([bytes.len()]);
        let total = layout(sizes).ok_or(BundleError::TooLarge)?.1;
        if u32::try_from(total).is_err() {
            return Err(BundleError::TooLarge);
        }
        self.entries
            .push((name.as_bytes().to_vec(), bytes.to_vec()));
        Ok(self)
    }

    /// The bundle's bytes: header, table, then each entry's data 4 KiB aligned, padded
    /// with zeros to a multiple of 4 KiB.
    pub fn finish(self) -> Vec<u8> {
        // `add` checked that this layout exists and fits in a u32.
        let (offsets, total) =
            layout(self.entries.iter().map(|(_, d)| d.len())).unwrap_or_default();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for ((name, data), offset) in self.entries.iter().zip(&offsets) {
            let mut field = [0u8; NAME_LEN];
            field[..name.len()].copy_from_slice(name);
            out.extend_from_slice(&field);
            out.extend_from_slice(&(*offset as u64).to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        }
        for ((_, data), offset) in self.entries.iter().zip(&offsets) {
            out.resize(*offset, 0);
            out.extend_from_slice(data);
        }
        out.resize(total, 0);
        out
    }
}

/// The size of a bundle whose entries hold these many bytes (what [`BundleWriter`]
/// would make), or `None` if it cannot be built.
pub fn size_for(sizes: impl Iterator<Item = usize> + Clone) -> Option<usize> {
    layout(sizes).map(|(_, total)| total)
}

/// Data offsets and the padded total size for entries of the given sizes, or `None` if
/// the arithmetic overflows.
fn layout(sizes: impl Iterator<Item = usize> + Clone) -> Option<(Vec<usize>, usize)> {
    let mut at = align_up(table_end(sizes.clone().count())?)?;
    let mut offsets = Vec::new();
    for size in sizes {
        offsets.push(at);
        at = align_up(at.checked_add(size)?)?;
    }
    Some((offsets, at))
}

fn table_end(count: usize) -> Option<usize> {
    count.checked_mul(ENTRY_SIZE)?.checked_add(HEADER_SIZE)
}

fn align_up(value: usize) -> Option<usize> {
    Some(value.checked_add(DATA_ALIGN - 1)? & !(DATA_ALIGN - 1))
}

/// The name in a NUL-padded field: non-empty UTF-8, nothing but NULs after the first NUL.
fn decode_name(field: &[u8]) -> Option<&str> {
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    if len == 0 || field[len..].iter().any(|&b| b != 0) {
        return None;
    }
    core::str::from_utf8(&field[..len]).ok()
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut w = BundleWriter::new();
        w.add(CONFIG_ENTRY, b"\xd0\x0d\xfe\xedconfig").unwrap();
        w.add("hello", &[0xaa; 5000]).unwrap();
        w.add("linux/Image", &[]).unwrap();
        w.finish()
    }

    #[test]
    fn round_trip_keeps_names_order_and_bytes() {
        let bytes = sample();
        assert_eq!(bytes.len() % DATA_ALIGN, 0);
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.size(), bytes.len());
        let names: Vec<&str> = bundle.entries().map(|e| e.name).collect();
        assert_eq!(names, ["config.dtb", "hello", "linux/Image"]);
        assert_eq!(bundle.config(), Some(&b"\xd0\x0d\xfe\xedconfig"[..]));
        assert_eq!(bundle.get("hello"), Some(&[0xaa; 5000][..]));
        assert_eq!(bundle.get("linux/Image"), Some(&[][..]));
        assert_eq!(bundle.get("missing"), None);
        assert!(bundle.entries().all(|e| e.offset % DATA_ALIGN as u64 == 0));
    }

    #[test]
    fn header_fields_are_little_endian_at_fixed_offsets() {
        let bytes = sample();
        assert_eq!(&bytes[..8], b"BHBUNDL1");
        assert_eq!(read_u32(&bytes, 8) as usize, bytes.len());
        assert_eq!(read_u32(&bytes, 12), 3);
        assert_eq!(&bytes[16..26], b"config.dtb");
        assert!(bytes[26..64].iter().all(|&b| b == 0));
        assert_eq!(read_u64(&bytes, 64), 4096);
        assert_eq!(read_u64(&bytes, 72), 10);
    }

    #[test]
    fn trailing_bytes_after_the_bundle_are_ignored() {
        let mut bytes = sample();
        let size = bytes.len();
        bytes.extend_from_slice(&[0x55; 100]);
        assert_eq!(Bundle::parse(&bytes).unwrap().size(), size);
    }

    #[test]
    fn empty_bundle_is_valid() {
        let bytes = BundleWriter::new().finish();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert!(bundle.is_empty() && bundle.config().is_none());
    }

    #[test]
    fn malformed_headers_are_named() {
        let bytes = sample();
        assert_eq!(
            Bundle::parse(&bytes[..10]).unwrap_err(),
            BundleError::Truncated { need: 16, have: 10 }
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Bundle::parse(&bad).unwrap_err(), BundleError::BadMagic);
        assert!(matches!(
            Bundle::parse(&bytes[..4096]).unwrap_err(),
            BundleError::Truncated { .. }
        ));
        let mut bad = bytes.clone();
        bad[12..16].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::TableTooLarge { count: 1000 }
        );
    }

    #[test]
    fn malformed_entries_are_named() {
        let bytes = sample();
        let entry1 = HEADER_SIZE + ENTRY_SIZE;
        let mut bad = bytes.clone();
        bad[entry1 + NAME_LEN..entry1 + NAME_LEN + 8].copy_from_slice(&4097u64.to_le_bytes());
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::Misaligned { index: 1 }
        );
        let mut bad = bytes.clone();
        bad[entry1 + NAME_LEN + 8..entry1 + ENTRY_SIZE].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::OutOfBounds { index: 1 }
        );
        let mut bad = bytes.clone();
        bad[entry1 + NAME_LEN..entry1 + NAME_LEN + 8].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::OutOfBounds { index: 1 }
        );
        let mut bad = bytes.clone();
        bad[entry1 + 10] = b'x'; // a byte after the NUL padding started
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::BadName { index: 1 }
        );
        let mut bad = bytes.clone();
        bad[entry1..entry1 + NAME_LEN].copy_from_slice(&bytes[HEADER_SIZE..HEADER_SIZE + NAME_LEN]);
        assert_eq!(
            Bundle::parse(&bad).unwrap_err(),
            BundleError::Duplicate { index: 1 }
        );
    }

    #[test]
    fn writer_refuses_bad_names() {
        let mut w = BundleWriter::new();
        assert_eq!(w.add("", b"x").unwrap_err(), BundleError::InvalidName);
        assert_eq!(w.add("a\0b", b"x").unwrap_err(), BundleError::InvalidName);
        let long = String::from_utf8(alloc::vec![b'n'; NAME_LEN + 1]).unwrap();
        assert_eq!(w.add(&long, b"x").unwrap_err(), BundleError::InvalidName);
        w.add(&long[..NAME_LEN], b"x").unwrap();
        assert_eq!(
            w.add(&long[..NAME_LEN], b"y").unwrap_err(),
            BundleError::DuplicateName
        );
        let bytes = w.finish();
        assert_eq!(
            Bundle::parse(&bytes).unwrap().get(&long[..NAME_LEN]),
            Some(&b"x"[..])
        );
    }

    #[test]
    fn writer_caps_the_entry_count() {
        let mut w = BundleWriter::new();
        for i in 0..MAX_ENTRIES {
            w.add(&alloc::format!("e{i}"), &[]).unwrap();
        }
        assert_eq!(w.add("one-more", &[]).unwrap_err(), BundleError::TooLarge);
        assert_eq!(Bundle::parse(&w.finish()).unwrap().len(), MAX_ENTRIES);
    }

    proptest! {
        #[test]
        fn mutated_bundles_never_panic(
            flips in proptest::collection::vec((0usize..9000, any::<u8>()), 1..8),
            cut in 0usize..20000,
        ) {
            let mut bytes = sample();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut);
            if let Ok(bundle) = Bundle::parse(&bytes) {
                for entry in bundle.entries() {
                    prop_assert!(entry.offset as usize + entry.data.len() <= bundle.size());
                }
                prop_assert_eq!(bundle.entries().count(), bundle.len());
            }
        }

        #[test]
        fn random_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut bytes = bytes;
            if bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&MAGIC);
            }
            let _ = Bundle::parse(&bytes);
        }

        #[test]
        fn any_entries_round_trip(
            entries in proptest::collection::btree_map("[a-z0-9./_-]{1,48}", proptest::collection::vec(any::<u8>(), 0..9000), 0..6),
        ) {
            let mut w = BundleWriter::new();
            for (name, data) in &entries {
                w.add(name, data).unwrap();
            }
            let bytes = w.finish();
            let bundle = Bundle::parse(&bytes).unwrap();
            prop_assert_eq!(bundle.len(), entries.len());
            for (name, data) in &entries {
                prop_assert_eq!(bundle.get(name), Some(&data[..]));
            }
        }
    }
}

//! The kernels an x86 partition boots: an ELF64 image (its `PT_LOAD` segments) or a
//! Linux bzImage (Documentation/arch/x86/boot.rst, "The Linux/x86 Boot Protocol"),
//! read into one description of what goes where, with bounds checks: a partition's
//! kernel may be any file the config names.
//!
//! A bzImage's protected-mode part is loaded at `code32_start` (1 MiB) and entered
//! there through the 32-bit boot protocol; the kernel then decompresses itself to
//! `pref_address` (unless KASLR picks another place in RAM) and needs `init_size`
//! bytes from there, which the layout keeps free.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use crate::elf;

/// One piece of the image copied into guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Where it goes (guest-physical).
    pub paddr: u64,
    /// Its bytes in the image: `(offset, length)`.
    pub file: (usize, usize),
    /// Bytes it takes in memory (the rest past the file bytes is zeroed).
    pub mem: u64,
}

/// A kernel image, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel<'a> {
    /// What is copied where.
    pub pieces: Vec<Piece>,
    /// The 32-bit entry point.
    pub entry: u64,
    /// The first address above everything the kernel needs while it starts (its
    /// pieces, and a bzImage's decompression buffer): an initrd goes above it.
    pub end: u64,
    /// A bzImage's setup header (the zero page's 0x1f1..), else `None`.
    pub setup_header: Option<&'a [u8]>,
    /// The highest address an initrd may end at (bzImage `initrd_addr_max` + 1).
    pub initrd_limit: u64,
}

/// Where the 32-bit boot protocol loads a bzImage's protected-mode part.
const CODE32_START: u64 = 0x10_0000;
/// Oldest boot protocol accepted: 2.10 (`pref_address`, `init_size`).
const MIN_VERSION: u16 = 0x020a;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether `image` starts like a bzImage (boot flag and "HdrS").
pub fn is_bzimage(image: &[u8]) -> bool {
    u16_at(image, 0x1fe) == Some(0xaa55) && image.get(0x202..0x206) == Some(b"HdrS")
}

/// Reads an ELF64 image or a bzImage; the error says what is wrong with it.
pub fn read(image: &[u8]) -> Result<Kernel<'_>, String> {
    if is_bzimage(image) {
        return bzimage(image);
    }
    if !elf::is_elf(image) {
        return Err(String::from("neither an ELF64 image nor a bzImage"));
    }
    let e = elf::read(image).map_err(String::from)?;
    let pieces: Vec<Piece> = e.segments.iter().map(|s| Piece { paddr: s.paddr, file: s.file, mem: s.mem }).collect();
    let end = pieces.iter().map(|p| p.paddr.saturating_add(p.mem)).max().unwrap_or(0);
    Ok(Kernel { pieces, entry: e.entry, end, setup_header: None, initrd_limit: 1 << 32 })
}

fn bzimage(image: &[u8]) -> Result<Kernel<'_>, String> {
    let short = || String::from("a bzImage whose setup header is cut short");
    let version = u16_at(image, 0x206).ok_or_else(short)?;
    if version < MIN_VERSION {
        return Err(format!("a bzImage of boot protocol {}.{:02}, older than 2.10", version >> 8, version & 0xff));
    }
    if image.get(0x211).is_none_or(|f| f & 1 == 0) {
        return Err(String::from("a bzImage that does not load high (loadflags.LOADED_HIGH clear): a zImage"));
    }
    let setup_sects = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let kernel_at = (setup_sects + 1) * 512;
    if kernel_at >= image.len() {
        return Err(String::from("a bzImage with no protected-mode kernel after its setup code"));
    }
    // The setup header runs from 0x1f1 to the end its jump at 0x200 skips to.
    let header_end = 0x202 + usize::from(*image.get(0x201).ok_or_else(short)?);
    let setup_header = image.get(0x1f1..header_end.min(kernel_at)).ok_or_else(short)?;
    let code32 = u64::from(u32_at(image, 0x214).ok_or_else(short)?);
    if code32 != CODE32_START {
        return Err(format!("a bzImage whose code32_start is {code32:#x}, not 1 MiB"));
    }
    let initrd_max = u64::from(u32_at(image, 0x22c).ok_or_else(short)?);
    let align = u64::from(u32_at(image, 0x230).ok_or_else(short)?).max(1);
    let pref = u64_at(image, 0x258).ok_or_else(short)?;
    let init_size = u64::from(u32_at(image, 0x260).ok_or_else(short)?);
    // A relocatable kernel decompresses at its load address rounded up to its alignment,
    // but never below pref_address (arch/x86/boot/compressed/head_64.S).
    let relocatable = image.get(0x234).is_some_and(|&r| r != 0);
    let target = if relocatable { CODE32_START.next_multiple_of(align).max(pref) } else { pref };
    let len = image.len() - kernel_at;
    let end = (CODE32_START + len as u64).max(target.saturating_add(init_size));
    let piece = Piece { paddr: CODE32_START, file: (kernel_at, len), mem: len as u64 };
    Ok(Kernel { pieces: vec![piece], entry: CODE32_START, end, setup_header: Some(setup_header), initrd_limit: initrd_max + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped file: 3 setup sectors, a header of protocol 2.15, `payload`
    /// bytes of "kernel".
    fn bz(payload: usize) -> Vec<u8> {
        let mut b = vec![0u8; 4 * 512 + payload];
        b[0x1f1] = 3;
        b[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        b[0x200] = 0xeb;
        b[0x201] = 0x6a; // the header ends at 0x26c
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        b[0x211] = 1;
        b[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
        b[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        b[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
        b[0x234] = 1;
        b[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
        b[0x260..0x264].copy_from_slice(&0x200_0000u32.to_le_bytes());
        b
    }

    #[test]
    fn a_bzimage_loads_its_protected_mode_part_at_1_mib_and_keeps_room_to_decompress() {
        let image = bz(0x1000);
        let k = read(&image).unwrap();
        assert_eq!(k.entry, 0x10_0000);
        assert_eq!(k.pieces, [Piece { paddr: 0x10_0000, file: (0x800, 0x1000), mem: 0x1000 }]);
        assert_eq!(k.end, 0x300_0000, "pref_address 16 MiB + init_size 32 MiB");
        assert_eq!(k.setup_header.map(<[u8]>::len), Some(0x26c - 0x1f1));
        assert_eq!(k.initrd_limit, 0x8000_0000);
    }

    #[test]
    fn bad_bzimages_are_refused_with_the_reason() {
        let mut old = bz(16);
        old[0x206..0x208].copy_from_slice(&0x0204u16.to_le_bytes());
        assert!(read(&old).unwrap_err().contains("2.04"));
        let mut low = bz(16);
        low[0x211] = 0;
        assert!(read(&low).unwrap_err().contains("zImage"));
        let cut = &bz(0)[..0x800];
        assert!(read(cut).unwrap_err().contains("no protected-mode kernel"));
        let mut moved = bz(16);
        moved[0x214..0x218].copy_from_slice(&0x20_0000u32.to_le_bytes());
        assert!(read(&moved).unwrap_err().contains("code32_start"));
        assert!(read(b"plain text, not a kernel").unwrap_err().contains("neither"));
        assert!(read(&bz(16)[..0x210]).is_err(), "a header cut short");
    }
}

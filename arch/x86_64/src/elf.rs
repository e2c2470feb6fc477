//! The loadable segments of an ELF64 x86_64 image (System V gABI, "Program Header"),
//! read with bounds checks: a partition's kernel may be any file the config names.

use alloc::vec::Vec;

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it goes: its physical address (`p_paddr`).
    pub paddr: u64,
    /// Its bytes in the file: `(offset, length)`.
    pub file: (usize, usize),
    /// Bytes it takes in memory (`p_memsz`, at least the file length; the rest zero).
    pub mem: u64,
}

/// An ELF64 image's entry and loadable segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elf {
    /// `e_entry`.
    pub entry: u64,
    /// The `PT_LOAD` segments.
    pub segments: Vec<Segment>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether `image` starts like an ELF file.
pub fn is_elf(image: &[u8]) -> bool {
    image.starts_with(b"\x7fELF")
}

/// Reads a little-endian ELF64 x86_64 executable; `Err` says what is wrong with it.
pub fn read(image: &[u8]) -> Result<Elf, &'static str> {
    if !is_elf(image) || image.get(4) != Some(&2) || image.get(5) != Some(&1) {
        return Err("not a little-endian 64-bit ELF file");
    }
    if u16_at(image, 18) != Some(62) {
        return Err("an ELF file for another machine than x86_64");
    }
    let bad = "a truncated ELF program header table";
    let entry = u64_at(image, 24).ok_or(bad)?;
    let phoff = usize::try_from(u64_at(image, 32).ok_or(bad)?).map_err(|_| bad)?;
    let phentsize = usize::from(u16_at(image, 54).ok_or(bad)?);
    let phnum = usize::from(u16_at(image, 56).ok_or(bad)?);
    if phentsize < 56 {
        return Err(bad);
    }
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize).ok_or(bad)?).ok_or(bad)?;
        let ph = image.get(at..at.checked_add(56).ok_or(bad)?).ok_or(bad)?;
        if u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) != 1 {
            continue; // not PT_LOAD
        }
        let offset = usize::try_from(u64_at(ph, 8).ok_or(bad)?).map_err(|_| bad)?;
        let filesz = usize::try_from(u64_at(ph, 32).ok_or(bad)?).map_err(|_| bad)?;
        let (paddr, mem) = (u64_at(ph, 24).ok_or(bad)?, u64_at(ph, 40).ok_or(bad)?);
        if offset.checked_add(filesz).is_none_or(|end| end > image.len()) || (filesz as u64) > mem {
            return Err("an ELF segment runs past the end of the file");
        }
        if mem > 0 {
            segments.push(Segment { paddr, file: (offset, filesz), mem });
        }
    }
    if segments.is_empty() {
        return Err("an ELF file with nothing to load");
    }
    Ok(Elf { entry, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF with one PT_LOAD of `data` at `paddr` (memsz `mem`) and entry `entry`.
    pub fn image(paddr: u64, data: &[u8], mem: u64, entry: u64) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[18] = 62;
        e[24..32].copy_from_slice(&entry.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54] = 56;
        e[56] = 1;
        let ph = &mut e[64..120];
        ph[0] = 1;
        ph[8..16].copy_from_slice(&120u64.to_le_bytes());
        ph[24..32].copy_from_slice(&paddr.to_le_bytes());
        ph[32..40].copy_from_slice(&(data.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&mem.to_le_bytes());
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn one_segment_is_read() {
        let e = read(&image(0x10_0000, b"abcd", 0x2000, 0x10_0020)).unwrap();
        assert_eq!(e.entry, 0x10_0020);
        assert_eq!(e.segments, [Segment { paddr: 0x10_0000, file: (120, 4), mem: 0x2000 }]);
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let good = image(0x10_0000, b"abcd", 0x2000, 0x10_0020);
        for cut in 0..good.len() {
            let _ = read(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[64 + 32..64 + 40].copy_from_slice(&1000u64.to_le_bytes());
        assert_eq!(read(&lying), Err("an ELF segment runs past the end of the file"));
        let mut arm = good;
        arm[18] = 183;
        assert!(read(&arm).is_err());
    }
}

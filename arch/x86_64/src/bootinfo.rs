//! What the boot loader hands over, from either protocol the image supports: the
//! Multiboot2 information structure (GRUB; Multiboot2 spec 3.6) or the PVH start info
//! (QEMU `-kernel`; Xen's `arch-x86/hvm/start_info.h`).
//!
//! Both give the RAM map, the modules (the bundle) and where ACPI starts. The parsers
//! read through a bounds-checked [`Phys`] view, so a malformed structure is an error,
//! never a wild read or a panic.

use alloc::vec::Vec;

/// EAX at a Multiboot2 entry.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;
/// The first word of a PVH `hvm_start_info`.
pub const PVH_MAGIC: u32 = 0x336e_c578;

/// Physical memory as the hypervisor can read it.
pub trait Phys {
    /// `len` bytes at physical address `addr`, or `None` if that is not readable.
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]>;
}

/// Where the ACPI tables start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rsdp {
    /// A copy of the RSDP structure (Multiboot2 tags 14 and 15).
    Copy(Vec<u8>),
    /// The RSDP's physical address (PVH).
    At(u64),
}

/// The boot loader's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// Usable RAM `(base, length)`, in the loader's order.
    pub ram: Vec<(u64, u64)>,
    /// Modules `(start, length)`; the first is the bundle.
    pub modules: Vec<(u64, u64)>,
    /// The ACPI root pointer, if the loader found one.
    pub rsdp: Option<Rsdp>,
}

/// Why the hand-over cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadInfo(pub &'static str);

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the hand-over of the loader that entered with `magic` in EAX and `info` in EBX.
pub fn read(magic: u32, info: u64, mem: &impl Phys) -> Result<BootInfo, BadInfo> {
    if magic == MULTIBOOT2_MAGIC {
        return multiboot2(info, mem);
    }
    match mem.bytes(info, 4).and_then(|b| u32_at(b, 0)) {
        Some(PVH_MAGIC) => pvh(info, mem),
        _ => Err(BadInfo("entered neither by a Multiboot2 loader nor through the PVH note")),
    }
}

/// Multiboot2: a size-prefixed list of 8-byte-aligned tags.
fn multiboot2(at: u64, mem: &impl Phys) -> Result<BootInfo, BadInfo> {
    let bad = BadInfo("malformed Multiboot2 information");
    let total = mem.bytes(at, 8).and_then(|b| u32_at(b, 0)).ok_or(bad)? as usize;
    let b = mem.bytes(at, total).ok_or(bad)?;
    let mut info = BootInfo::default();
    let mut off = 8;
    while off + 8 <= total {
        let (kind, size) = (u32_at(b, off).ok_or(bad)?, u32_at(b, off + 4).ok_or(bad)? as usize);
        let tag = b.get(off..off.checked_add(size).ok_or(bad)?).ok_or(bad)?;
        match kind {
            0 => break,
            3 => {
                let (start, end) = (u32_at(tag, 8).ok_or(bad)?, u32_at(tag, 12).ok_or(bad)?);
                let len = end.checked_sub(start).ok_or(bad)?;
                info.modules.push((u64::from(start), u64::from(len)));
            }
            6 => {
                let entry = u32_at(tag, 8).ok_or(bad)? as usize;
                if entry < 24 {
                    return Err(bad);
                }
                for e in tag.get(16..).unwrap_or_default().chunks_exact(entry) {
                    let (base, len, kind) = (u64_at(e, 0).ok_or(bad)?, u64_at(e, 8).ok_or(bad)?, u32_at(e, 16).ok_or(bad)?);
                    if kind == 1 {
                        info.ram.push((base, len));
                    }
                }
            }
            // A newer (v2) copy wins over the v1 one.
            14 | 15 if kind == 15 || info.rsdp.is_none() => {
                info.rsdp = Some(Rsdp::Copy(tag.get(8..).unwrap_or_default().to_vec()));
            }
            _ => {}
        }
        off += size.next_multiple_of(8).max(8);
    }
    Ok(info)
}

/// PVH: `hvm_start_info` with the module list and (version 1) the memory map.
fn pvh(at: u64, mem: &impl Phys) -> Result<BootInfo, BadInfo> {
    let bad = BadInfo("malformed PVH start info");
    let s = mem.bytes(at, 56).ok_or(bad)?;
    let version = u32_at(s, 4).ok_or(bad)?;
    let nr_modules = u32_at(s, 12).ok_or(bad)? as usize;
    let modlist = u64_at(s, 16).ok_or(bad)?;
    let rsdp = u64_at(s, 32).ok_or(bad)?;
    let mut info = BootInfo::default();
    if nr_modules > 0 {
        let list = mem.bytes(modlist, nr_modules.checked_mul(32).ok_or(bad)?).ok_or(bad)?;
        for m in list.chunks_exact(32) {
            info.modules.push((u64_at(m, 0).ok_or(bad)?, u64_at(m, 8).ok_or(bad)?));
        }
    }
    if version >= 1 {
        let (map, entries) = (u64_at(s, 40).ok_or(bad)?, u32_at(s, 48).ok_or(bad)? as usize);
        let list = mem.bytes(map, entries.checked_mul(24).ok_or(bad)?).ok_or(bad)?;
        for e in list.chunks_exact(24) {
            if u32_at(e, 16) == Some(1) {
                info.ram.push((u64_at(e, 0).ok_or(bad)?, u64_at(e, 8).ok_or(bad)?));
            }
        }
    }
    if rsdp != 0 {
        info.rsdp = Some(Rsdp::At(rsdp));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(u64, Vec<u8>);

    impl Phys for Mem {
        fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
            let off = usize::try_from(addr.checked_sub(self.0)?).ok()?;
            self.1.get(off..off.checked_add(len)?)
        }
    }

    fn tag(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
        t.extend_from_slice(body);
        while t.len() % 8 != 0 {
            t.push(0);
        }
        t
    }

    fn mb2(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0u8; 8];
        for t in tags {
            b.extend_from_slice(t);
        }
        b.extend(tag(0, &[]));
        let n = b.len() as u32;
        b[..4].copy_from_slice(&n.to_le_bytes());
        b
    }

    #[test]
    fn multiboot2_ram_modules_and_rsdp() {
        let mut module = Vec::new();
        module.extend_from_slice(&0x20_0000u32.to_le_bytes());
        module.extend_from_slice(&0x20_3000u32.to_le_bytes());
        module.extend_from_slice(b"bundle\0");
        let mut map = Vec::new();
        map.extend_from_slice(&24u32.to_le_bytes());
        map.extend_from_slice(&0u32.to_le_bytes());
        for (base, len, kind) in [(0u64, 0x9fc00u64, 1u32), (0xf0000, 0x10000, 2), (0x10_0000, 0xff0_0000, 1)] {
            map.extend_from_slice(&base.to_le_bytes());
            map.extend_from_slice(&len.to_le_bytes());
            map.extend_from_slice(&kind.to_le_bytes());
            map.extend_from_slice(&0u32.to_le_bytes());
        }
        let info = mb2(&[tag(3, &module), tag(6, &map), tag(14, b"RSD PTR v1"), tag(15, b"RSD PTR v2")]);
        let got = read(MULTIBOOT2_MAGIC, 0x1000, &Mem(0x1000, info)).unwrap();
        assert_eq!(got.modules, [(0x20_0000, 0x3000)]);
        assert_eq!(got.ram, [(0, 0x9fc00), (0x10_0000, 0xff0_0000)]);
        assert!(matches!(got.rsdp, Some(Rsdp::Copy(ref c)) if c.starts_with(b"RSD PTR v2")));
    }

    #[test]
    fn truncated_or_foreign_handovers_are_errors() {
        let mut info = mb2(&[tag(6, &[24, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3])]);
        info[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read(MULTIBOOT2_MAGIC, 0, &Mem(0, info)).is_err());
        assert!(read(0, 0, &Mem(0, vec![0; 64])).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x1234_5678_u64;
        for _ in 0..2000 {
            let mut b = Vec::new();
            for _ in 0..96 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                b.push((seed >> 33) as u8);
            }
            b[..4].copy_from_slice(&((seed % 120) as u32).to_le_bytes());
            let _ = read(MULTIBOOT2_MAGIC, 0, &Mem(0, b.clone()));
            b[..4].copy_from_slice(&PVH_MAGIC.to_le_bytes());
            let _ = read(0, 0, &Mem(0, b));
        }
    }
}

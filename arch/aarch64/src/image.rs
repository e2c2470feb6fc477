//! Where a partition's boot images go in its RAM (the arm64 Linux boot protocol,
//! Documentation/arch/arm64/booting.rst).
//!
//! An image with an arm64 `Image` header is placed at a 2 MiB-aligned base plus its
//! `text_offset`; anything else at the start of RAM (or at the config's load address).
//! The DTB goes in the top 2 MiB of the region holding the kernel (the first region,
//! unless the config's load address is in another) and the initrd right below it.

use bulkhead_core::addr::{GuestPhysAddr, Range};

const MIB2: u64 = 2 << 20;
const MAGIC_OFFSET: usize = 0x38;
const MAGIC: &[u8; 4] = b"ARM\x64";
/// Largest device tree the boot protocol allows.
pub const DTB_MAX: u64 = MIB2;

/// The placement of one partition's images, in guest-physical addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Where the kernel is copied; also the boot vCPU's entry point.
    pub kernel: GuestPhysAddr,
    /// Where the DTB goes (x0 at entry).
    pub dtb: GuestPhysAddr,
    /// Where the initrd goes, if there is one.
    pub initrd: Option<GuestPhysAddr>,
}

/// Why the images do not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom(pub &'static str);

/// The `(text_offset, image_size)` of an arm64 `Image`, if `kernel` has the header.
pub fn image_header(kernel: &[u8]) -> Option<(u64, u64)> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(kernel.get(at..at + 8)?.try_into().ok()?))
    };
    (kernel.get(MAGIC_OFFSET..MAGIC_OFFSET + 4)? == MAGIC).then_some(())?;
    Some((word(8)?, word(16)?))
}

/// Places a kernel of `kernel` bytes, an initrd of `initrd_size` bytes and a DTB in
/// `ram` (the region holding the kernel), honouring a configured `load` address.
pub fn place(
    ram: Range<GuestPhysAddr>,
    kernel: &[u8],
    initrd_size: Option<u64>,
    load: Option<GuestPhysAddr>,
) -> Result<Placement, NoRoom> {
    let header = image_header(kernel);
    let kernel_at = match (load, header) {
        (Some(at), _) => at,
        (None, Some((text_offset, _))) => ram
            .start
            .align_up(MIB2)
            .and_then(|b| b.checked_add(text_offset))
            .ok_or(NoRoom("kernel base overflows"))?,
        (None, None) => ram.start,
    };
    let size = match header {
        Some((_, image_size)) if image_size as usize >= kernel.len() => image_size,
        _ => kernel.len() as u64,
    };
    let kernel_end = kernel_at.checked_add(size).ok_or(NoRoom("kernel end overflows"))?;
    if ram.size < 2 * DTB_MAX {
        return Err(NoRoom("the memory region is smaller than 4 MiB"));
    }
    let dtb = ram.last().align_down(MIB2);
    let initrd = match initrd_size {
        Some(n) => Some(dtb.checked_sub(n).ok_or(NoRoom("initrd too large"))?.align_down(4096)),
        None => None,
    };
    let lowest = initrd.unwrap_or(dtb);
    if !ram.contains(kernel_at) || kernel_end > lowest {
        return Err(NoRoom("kernel, initrd and device tree do not fit"));
    }
    Ok(Placement { kernel: kernel_at, dtb, initrd })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(base: u64, size: u64) -> Range<GuestPhysAddr> {
        Range::new(GuestPhysAddr::new(base), size).unwrap()
    }

    fn image(text_offset: u64, image_size: u64, len: usize) -> std::vec::Vec<u8> {
        let mut k = std::vec![0u8; len.max(64)];
        k[8..16].copy_from_slice(&text_offset.to_le_bytes());
        k[16..24].copy_from_slice(&image_size.to_le_bytes());
        k[0x38..0x3c].copy_from_slice(MAGIC);
        k
    }

    #[test]
    fn raw_binaries_go_at_the_start_and_dtb_at_the_top() {
        let p = place(ram(0x5000_0000, 16 << 20), &[0u8; 4096], None, None).unwrap();
        assert_eq!(p.kernel.as_u64(), 0x5000_0000);
        assert_eq!(p.dtb.as_u64(), 0x50e0_0000);
        assert_eq!(p.initrd, None);
    }

    #[test]
    fn image_header_sets_text_offset_from_a_2mib_base() {
        let k = image(0x80000, 0x10000, 4096);
        let p = place(ram(0x5010_0000, 64 << 20), &k, Some(0x10_0000), None).unwrap();
        assert_eq!(p.kernel.as_u64(), 0x5028_0000);
        assert_eq!(p.initrd.unwrap().as_u64(), 0x5400_0000 - 0x10_0000);
    }

    #[test]
    fn images_that_do_not_fit_are_refused() {
        let k = image(0, 15 << 20, 4096);
        assert!(place(ram(0x5000_0000, 16 << 20), &k, None, None).is_err());
        assert!(place(ram(0x5000_0000, 2 << 20), &[0u8; 16], None, None).is_err());
        assert!(place(ram(0x5000_0000, 16 << 20), &[0u8; 16], Some(15 << 20), None).is_err());
        let outside = Some(GuestPhysAddr::new(0x6000_0000));
        assert!(place(ram(0x5000_0000, 16 << 20), &[0u8; 16], None, outside).is_err());
    }
}

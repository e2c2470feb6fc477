//! The flashable image: hypervisor binary, zero padding to its `image_size`, the bundle.
//!
//! The aarch64 hypervisor starts with an arm64 Linux `Image` header (Linux
//! Documentation/arch/arm64/booting.rst): `image_size` (u64 LE at offset 16) is where the
//! linker put the end of the hypervisor including `.bss`, 4 KiB aligned. The hypervisor
//! looks for the bundle there, so packing pads the binary to that size, appends the
//! bundle and rewrites `image_size` to the new total so that a loader reserves it all.

use crate::error::{Error, Result};

/// Offset of `image_size` in the arm64 `Image` header.
pub const IMAGE_SIZE_OFFSET: usize = 16;
/// Offset of the header's magic, `ARM\x64`.
const MAGIC_OFFSET: usize = 56;
const MAGIC: &[u8; 4] = b"ARM\x64";
const PAGE: u64 = 4096;

/// What [`pack`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The whole image.
    pub bytes: Vec<u8>,
    /// Where the bundle starts (the hypervisor's original `image_size`).
    pub bundle_offset: usize,
}

/// Packs the raw hypervisor binary `hypervisor` and `bundle` into one image.
pub fn pack(hypervisor: &[u8], bundle: &[u8]) -> Result<Packed> {
    let image_size = image_size(hypervisor)?;
    if image_size % PAGE != 0 {
        return Err(Error::new(format!(
            "hypervisor image_size {image_size:#x} is not 4 KiB aligned (linker script)"
        )));
    }
    let bundle_offset = usize::try_from(image_size)
        .ok()
        .filter(|&size| size >= hypervisor.len())
        .ok_or_else(|| {
            Error::new(format!(
                "hypervisor image_size {image_size:#x} is smaller than its binary ({:#x} bytes)",
                hypervisor.len()
            ))
        })?;
    let mut bytes = Vec::with_capacity(bundle_offset + bundle.len());
    bytes.extend_from_slice(hypervisor);
    bytes.resize(bundle_offset, 0);
    bytes.extend_from_slice(bundle);
    let total = bytes.len() as u64;
    bytes[IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8].copy_from_slice(&total.to_le_bytes());
    Ok(Packed {
        bytes,
        bundle_offset,
    })
}

/// The `image_size` field of an arm64 `Image` header.
pub fn image_size(image: &[u8]) -> Result<u64> {
    if image.get(MAGIC_OFFSET..MAGIC_OFFSET + 4) != Some(MAGIC) {
        return Err(Error::new(
            "hypervisor binary has no arm64 Image header (magic ARM\\x64 at offset 56)",
        ));
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&image[IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8]);
    Ok(u64::from_le_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_core::bundle::{Bundle, BundleWriter};

    fn hypervisor(len: usize, image_size: u64) -> Vec<u8> {
        let mut bin = vec![0xee; len];
        bin[IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8].copy_from_slice(&image_size.to_le_bytes());
        bin[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(MAGIC);
        bin
    }

    #[test]
    fn bundle_lands_at_image_size_and_header_covers_all() {
        let mut writer = BundleWriter::new();
        writer.add("config.dtb", b"cfg").unwrap();
        let bundle = writer.finish();
        let packed = pack(&hypervisor(5000, 0x3000), &bundle).unwrap();
        assert_eq!(packed.bundle_offset, 0x3000);
        assert_eq!(packed.bytes.len(), 0x3000 + bundle.len());
        assert!(packed.bytes[5000..0x3000].iter().all(|&b| b == 0));
        assert_eq!(
            image_size(&packed.bytes).unwrap(),
            packed.bytes.len() as u64
        );
        let found = Bundle::parse(&packed.bytes[packed.bundle_offset..]).unwrap();
        assert_eq!(found.config(), Some(&b"cfg"[..]));
    }

    #[test]
    fn refuses_bad_headers() {
        let err = |bin: &[u8]| pack(bin, &[]).unwrap_err().to_string();
        assert!(err(&[0; 100]).contains("no arm64 Image header"));
        assert!(err(&hypervisor(5000, 0x1000)).contains("smaller than its binary"));
        assert!(err(&hypervisor(100, 0x1001)).contains("not 4 KiB aligned"));
    }
}

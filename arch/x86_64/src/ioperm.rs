//! The I/O permission bitmap: one bit per port, set = the access exits. Both
//! extensions use the same layout: VMX's I/O bitmaps A and B (SDM Vol. 3C 25.6.4) are
//! its first two 4 KiB pages; SVM's I/O permission map (APM Vol. 2 15.10.1) is 12 KiB,
//! the third page covering multi-byte accesses that run past port 0xffff.

/// Bytes of the map (SVM's size; VMX uses the first [`VMX_BYTES`]).
pub const BYTES: usize = 12288;
/// Bytes VMX's bitmaps A and B cover.
pub const VMX_BYTES: usize = 8192;

/// Every port exits but the `open` ones.
pub fn bitmap(open: impl Iterator<Item = u16>) -> [u8; BYTES] {
    let mut map = [0xffu8; BYTES];
    for port in open {
        map[usize::from(port / 8)] &= !(1 << (port % 8));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_open_ports_pass() {
        let map = bitmap([0x2f8u16, 0x2ff, 0x8000].into_iter());
        assert_eq!(map[0x2f8 / 8], 0x7e);
        assert_eq!(map[0x3f8 / 8], 0xff);
        assert_eq!(map[0x1000], 0xfe, "bitmap B starts at port 0x8000");
        assert!(map[VMX_BYTES..].iter().all(|&b| b == 0xff), "ports past 0xffff always exit");
        assert_eq!(map.iter().map(|b| b.count_zeros()).sum::<u32>(), 3);
    }
}

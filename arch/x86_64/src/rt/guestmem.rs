//! Reading the instruction behind an exit: the guest's linear address through its own
//! page tables (4-level long mode, or none) to guest-physical, then the partition's RAM.

use super::setup::Part;
use super::vcpu::Vendor;
use crate::decode::{self, Access};

/// Up to 15 bytes of code at the guest's RIP (fewer where they cannot be read).
pub fn fetch(part: &Part, vendor: &impl Vendor, out: &mut [u8; 15]) -> usize {
    let (_, cs_base) = vendor.code();
    let linear = cs_base.wrapping_add(vendor.rip());
    let mut got = 0;
    while got < out.len() {
        let at = linear.wrapping_add(got as u64);
        let Some(gpa) = translate(part, vendor, at) else { break };
        let room = (0x1000 - (at & 0xfff)) as usize;
        let n = room.min(out.len() - got);
        if !part.read_guest(gpa, &mut out[got..got + n]) {
            break;
        }
        got += n;
    }
    got
}

/// Fetches the instruction at the guest's RIP and decodes it; `None` if it cannot be
/// read (paging modes other than 4-level long mode, unmapped code) or decoded.
pub fn fetch_and_decode(part: &Part, vendor: &impl Vendor) -> Option<Access> {
    let mut code = [0u8; 15];
    let n = fetch(part, vendor, &mut code);
    decode::decode(&code[..n], vendor.code().0)
}

/// The guest-physical address of guest-linear `va`.
fn translate(part: &Part, vendor: &impl Vendor, va: u64) -> Option<u64> {
    if vendor.cr0() & (1 << 31) == 0 {
        return Some(va & 0xffff_ffff);
    }
    if vendor.efer() & (1 << 10) == 0 {
        return None; // 32-bit or PAE paging: not decoded
    }
    let mut table = vendor.cr3() & 0x000f_ffff_ffff_f000;
    for level in (0..4).rev() {
        let index = (va >> (12 + 9 * level)) & 0x1ff;
        let mut entry = [0u8; 8];
        if !part.read_guest(table + index * 8, &mut entry) {
            return None;
        }
        let e = u64::from_le_bytes(entry);
        if e & 1 == 0 {
            return None;
        }
        let frame = e & 0x000f_ffff_ffff_f000;
        if level > 0 && level < 3 && e & (1 << 7) != 0 {
            let size = 1u64 << (12 + 9 * level);
            return Some((frame & !(size - 1)) | (va & (size - 1)));
        }
        if level == 0 {
            return Some(frame | (va & 0xfff));
        }
        table = frame;
    }
    None
}

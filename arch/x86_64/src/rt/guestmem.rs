//! Reading the instruction behind an exit: the guest's linear address through its own
//! page tables (4-level long mode, or none) to guest-physical, then the partition's RAM.

use super::vcpu::Vcpu;
use super::vmx::Field;
use crate::decode::{self, Access, Mode};
use crate::vmcs::field;

/// Fetches the instruction at the guest's RIP and decodes it; `None` if it cannot be
/// read (paging modes other than 4-level long mode, unmapped code) or decoded.
pub fn fetch_and_decode(vcpu: &Vcpu) -> Option<Access> {
    let ar = field::GUEST_CS_AR.read();
    let mode = if ar & (1 << 13) != 0 {
        Mode::Long
    } else if ar & (1 << 14) != 0 {
        Mode::Protected32
    } else {
        Mode::Real16
    };
    let linear = field::GUEST_CS_BASE.read().wrapping_add(field::GUEST_RIP.read());
    let mut code = [0u8; 15];
    let mut got = 0;
    while got < code.len() {
        let at = linear.wrapping_add(got as u64);
        let Some(gpa) = translate(vcpu, at) else { break };
        let room = (0x1000 - (at & 0xfff)) as usize;
        let n = room.min(code.len() - got);
        if !vcpu.part.read_guest(gpa, &mut code[got..got + n]) {
            break;
        }
        got += n;
    }
    decode::decode(&code[..got], mode)
}

/// The guest-physical address of guest-linear `va`.
fn translate(vcpu: &Vcpu, va: u64) -> Option<u64> {
    if field::GUEST_CR0.read() & (1 << 31) == 0 {
        return Some(va & 0xffff_ffff);
    }
    if field::GUEST_IA32_EFER.read() & (1 << 10) == 0 {
        return None; // 32-bit or PAE paging: not decoded
    }
    let mut table = field::GUEST_CR3.read() & 0x000f_ffff_ffff_f000;
    for level in (0..4).rev() {
        let index = (va >> (12 + 9 * level)) & 0x1ff;
        let mut entry = [0u8; 8];
        if !vcpu.part.read_guest(table + index * 8, &mut entry) {
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

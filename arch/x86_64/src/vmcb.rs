//! The AMD SVM virtual machine control block: field offsets, intercept bits and exit
//! codes (AMD APM Vol. 2, appendix B "Layout of VMCB", appendix C "SVM Intercept Exit
//! Codes", 15.13-15.20).

/// Offsets in the control area (0x000..0x3ff).
#[allow(missing_docs)]
pub mod control {
    pub const INTERCEPT_CR_WRITE: usize = 0x002;
    pub const INTERCEPT_EXCEPTIONS: usize = 0x008;
    pub const INTERCEPT_MISC1: usize = 0x00c;
    pub const INTERCEPT_MISC2: usize = 0x010;
    pub const IOPM_BASE: usize = 0x040;
    pub const MSRPM_BASE: usize = 0x048;
    pub const ASID: usize = 0x058;
    pub const TLB_CONTROL: usize = 0x05c;
    pub const V_INTR: usize = 0x060;
    pub const INTERRUPT_SHADOW: usize = 0x068;
    pub const EXIT_CODE: usize = 0x070;
    pub const EXIT_INFO1: usize = 0x078;
    pub const EXIT_INFO2: usize = 0x080;
    pub const EXIT_INT_INFO: usize = 0x088;
    pub const NP_ENABLE: usize = 0x090;
    pub const EVENT_INJ: usize = 0x0a8;
    pub const N_CR3: usize = 0x0b0;
    pub const CLEAN: usize = 0x0c0;
    pub const NEXT_RIP: usize = 0x0c8;
}

/// Offsets in the state-save area (0x400..).
#[allow(missing_docs)]
pub mod save {
    pub const ES: usize = 0x400;
    pub const CS: usize = 0x410;
    pub const SS: usize = 0x420;
    pub const DS: usize = 0x430;
    pub const FS: usize = 0x440;
    pub const GS: usize = 0x450;
    pub const GDTR: usize = 0x460;
    pub const LDTR: usize = 0x470;
    pub const IDTR: usize = 0x480;
    pub const TR: usize = 0x490;
    pub const CPL: usize = 0x4cb;
    pub const EFER: usize = 0x4d0;
    pub const CR4: usize = 0x548;
    pub const CR3: usize = 0x550;
    pub const CR0: usize = 0x558;
    pub const DR7: usize = 0x560;
    pub const DR6: usize = 0x568;
    pub const RFLAGS: usize = 0x570;
    pub const RIP: usize = 0x578;
    pub const RSP: usize = 0x5d8;
    pub const RAX: usize = 0x5f8;
    pub const CR2: usize = 0x640;
    pub const G_PAT: usize = 0x668;
}

/// Intercept vector 3 (misc 1).
#[allow(missing_docs)]
pub mod misc1 {
    pub const INTR: u32 = 1 << 0;
    pub const NMI: u32 = 1 << 1;
    pub const INIT: u32 = 1 << 3;
    pub const VINTR: u32 = 1 << 4;
    pub const RDPMC: u32 = 1 << 15;
    pub const CPUID: u32 = 1 << 18;
    pub const INVD: u32 = 1 << 22;
    pub const INVLPGA: u32 = 1 << 26;
    pub const TASK_SWITCH: u32 = 1 << 29;
    pub const IOIO: u32 = 1 << 27;
    pub const MSR: u32 = 1 << 28;
    pub const SHUTDOWN: u32 = 1 << 31;
}

/// Intercept vector 4 (misc 2).
#[allow(missing_docs)]
pub mod misc2 {
    pub const VMRUN: u32 = 1 << 0;
    pub const VMMCALL: u32 = 1 << 1;
    pub const VMLOAD: u32 = 1 << 2;
    pub const VMSAVE: u32 = 1 << 3;
    pub const STGI: u32 = 1 << 4;
    pub const CLGI: u32 = 1 << 5;
    pub const SKINIT: u32 = 1 << 6;
    pub const WBINVD: u32 = 1 << 9;
    pub const MONITOR: u32 = 1 << 10;
    pub const MWAIT: u32 = 1 << 11;
    pub const XSETBV: u32 = 1 << 13;
}

/// Bits of the virtual-interrupt control (`control::V_INTR`).
#[allow(missing_docs)]
pub mod vintr {
    pub const V_IRQ: u64 = 1 << 8;
    pub const PRIO_HIGHEST: u64 = 0xf << 16;
    pub const IGNORE_TPR: u64 = 1 << 20;
    pub const MASKING: u64 = 1 << 24;
}

/// EVENTINJ and EXITINTINFO (APM 15.20): vector 7:0, type 10:8, error code valid 11,
/// valid 31, error code 63:32.
#[allow(missing_docs)]
pub mod event {
    pub const VALID: u64 = 1 << 31;
    pub const ERROR_CODE: u64 = 1 << 11;
    pub const EXCEPTION: u64 = 3 << 8;
    pub const SOFTWARE_INT: u64 = 4 << 8;
    pub const TYPE_MASK: u64 = 7 << 8;
}

/// Exit codes.
#[allow(missing_docs)]
pub mod exit {
    pub const CR0_WRITE: u64 = 0x10;
    pub const CR4_WRITE: u64 = 0x14;
    pub const EXCEPTION_UD: u64 = 0x46;
    pub const INTR: u64 = 0x60;
    pub const NMI: u64 = 0x61;
    pub const INIT: u64 = 0x63;
    pub const VINTR: u64 = 0x64;
    pub const RDPMC: u64 = 0x6f;
    pub const CPUID: u64 = 0x72;
    pub const INVD: u64 = 0x76;
    pub const INVLPGA: u64 = 0x7a;
    pub const IOIO: u64 = 0x7b;
    pub const MSR: u64 = 0x7c;
    pub const TASK_SWITCH: u64 = 0x7d;
    pub const SHUTDOWN: u64 = 0x7f;
    pub const VMRUN: u64 = 0x80;
    pub const VMMCALL: u64 = 0x81;
    pub const VMLOAD: u64 = 0x82;
    pub const VMSAVE: u64 = 0x83;
    pub const STGI: u64 = 0x84;
    pub const CLGI: u64 = 0x85;
    pub const SKINIT: u64 = 0x86;
    pub const WBINVD: u64 = 0x89;
    pub const MONITOR: u64 = 0x8a;
    pub const MWAIT: u64 = 0x8b;
    pub const XSETBV: u64 = 0x8d;
    pub const NPF: u64 = 0x400;
    pub const INVALID: u64 = u64::MAX;
}

/// A VMX-style access-rights word (type, S, DPL, P in bits 7:0; AVL, L, D/B, G in bits
/// 15:12) as the VMCB's 12-bit segment attribute.
pub const fn attrib(ar: u32) -> u16 {
    ((ar & 0xff) | ((ar >> 4) & 0xf00)) as u16
}

/// Bytes of the MSR permission map.
pub const MSRPM_BYTES: usize = 8192;

/// The MSR permission map (APM 15.11): 8 KiB, two bits per MSR (read, write), set =
/// intercept, for ranges 0..0x1fff, 0xc0000000.., 0xc0010000..; `passthrough` MSRs are
/// open both ways, `read_only` ones for reads.
pub fn msrpm(passthrough: &[u32], read_only: &[u32]) -> [u8; MSRPM_BYTES] {
    let mut map = [0xffu8; MSRPM_BYTES];
    let mut open = |msr: u32, write: bool| {
        let (base, index) = match msr {
            0..=0x1fff => (0, msr),
            0xc000_0000..=0xc000_1fff => (0x800, msr - 0xc000_0000),
            0xc001_0000..=0xc001_1fff => (0x1000, msr - 0xc001_0000),
            _ => return,
        };
        let bit = index * 2 + u32::from(write);
        map[base + (bit / 8) as usize] &= !(1 << (bit % 8));
    };
    for &m in passthrough {
        open(m, false);
        open(m, true);
    }
    for &m in read_only {
        open(m, false);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_compress_the_vmx_access_rights() {
        assert_eq!(attrib(0xc09b), 0x0c9b, "32-bit code");
        assert_eq!(attrib(0xa09b), 0x0a9b, "64-bit code");
        assert_eq!(attrib(0x8b), 0x008b, "busy TSS");
    }

    #[test]
    fn the_msr_map_opens_exactly_what_it_lists() {
        let msr = msrpm(&[0xc000_0100], &[0x10]);
        // FS_BASE is index 0x100 of the second range: bits 0x200 and 0x201.
        assert_eq!(msr[0x800 + 0x200 / 8] & 0b11, 0);
        // TSC (0x10): read bit 0x20 open, write bit 0x21 set.
        assert_eq!(msr[0x20 / 8] & 0b11, 0b10);
        assert_eq!(msr[0x830 * 2 / 8], 0xff, "x2APIC intercepted");
    }
}

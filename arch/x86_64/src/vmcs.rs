//! VMCS field encodings, control bits and exit reasons (Intel SDM Vol. 3C chapters 25
//! "Virtual Machine Control Structures", 26 "VM Entries", 27 "VM Exits", and Vol. 3D
//! appendices B "Field Encoding in VMCS" and C "VMX Basic Exit Reasons").
//!
//! Fields are width-typed (STYLE 6): a 16-bit field cannot be written with a 64-bit
//! value by mistake. The runtime's `vmread`/`vmwrite` take these types.

/// A 16-bit VMCS field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F16(pub u32);
/// A 32-bit VMCS field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F32(pub u32);
/// A 64-bit VMCS field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F64(pub u32);
/// A natural-width VMCS field (64 bits on x86_64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FN(pub u32);

/// Field encodings by name (SDM Vol. 3D, B.1-B.4).
#[allow(missing_docs)]
pub mod field {
    use super::{F16, F32, F64, FN};

    pub const VPID: F16 = F16(0x0000);
    pub const GUEST_ES_SELECTOR: F16 = F16(0x0800);
    pub const GUEST_CS_SELECTOR: F16 = F16(0x0802);
    pub const GUEST_SS_SELECTOR: F16 = F16(0x0804);
    pub const GUEST_DS_SELECTOR: F16 = F16(0x0806);
    pub const GUEST_FS_SELECTOR: F16 = F16(0x0808);
    pub const GUEST_GS_SELECTOR: F16 = F16(0x080a);
    pub const GUEST_LDTR_SELECTOR: F16 = F16(0x080c);
    pub const GUEST_TR_SELECTOR: F16 = F16(0x080e);
    pub const HOST_ES_SELECTOR: F16 = F16(0x0c00);
    pub const HOST_CS_SELECTOR: F16 = F16(0x0c02);
    pub const HOST_SS_SELECTOR: F16 = F16(0x0c04);
    pub const HOST_DS_SELECTOR: F16 = F16(0x0c06);
    pub const HOST_FS_SELECTOR: F16 = F16(0x0c08);
    pub const HOST_GS_SELECTOR: F16 = F16(0x0c0a);
    pub const HOST_TR_SELECTOR: F16 = F16(0x0c0c);

    pub const IO_BITMAP_A: F64 = F64(0x2000);
    pub const IO_BITMAP_B: F64 = F64(0x2002);
    pub const MSR_BITMAP: F64 = F64(0x2004);
    pub const EPT_POINTER: F64 = F64(0x201a);
    pub const GUEST_PHYSICAL_ADDRESS: F64 = F64(0x2400);
    pub const VMCS_LINK_POINTER: F64 = F64(0x2800);
    pub const GUEST_IA32_DEBUGCTL: F64 = F64(0x2802);
    pub const GUEST_IA32_PAT: F64 = F64(0x2804);
    pub const GUEST_IA32_EFER: F64 = F64(0x2806);
    pub const HOST_IA32_PAT: F64 = F64(0x2c00);
    pub const HOST_IA32_EFER: F64 = F64(0x2c02);

    pub const PIN_BASED_CONTROLS: F32 = F32(0x4000);
    pub const PROC_BASED_CONTROLS: F32 = F32(0x4002);
    pub const EXCEPTION_BITMAP: F32 = F32(0x4004);
    pub const CR3_TARGET_COUNT: F32 = F32(0x400a);
    pub const EXIT_CONTROLS: F32 = F32(0x400c);
    pub const EXIT_MSR_STORE_COUNT: F32 = F32(0x400e);
    pub const EXIT_MSR_LOAD_COUNT: F32 = F32(0x4010);
    pub const ENTRY_CONTROLS: F32 = F32(0x4012);
    pub const ENTRY_MSR_LOAD_COUNT: F32 = F32(0x4014);
    pub const ENTRY_INTERRUPTION_INFO: F32 = F32(0x4016);
    pub const ENTRY_EXCEPTION_ERROR_CODE: F32 = F32(0x4018);
    pub const ENTRY_INSTRUCTION_LENGTH: F32 = F32(0x401a);
    pub const SECONDARY_CONTROLS: F32 = F32(0x401e);
    pub const INSTRUCTION_ERROR: F32 = F32(0x4400);
    pub const EXIT_REASON: F32 = F32(0x4402);
    pub const EXIT_INTERRUPTION_INFO: F32 = F32(0x4404);
    pub const EXIT_INTERRUPTION_ERROR_CODE: F32 = F32(0x4406);
    pub const IDT_VECTORING_INFO: F32 = F32(0x4408);
    pub const IDT_VECTORING_ERROR_CODE: F32 = F32(0x440a);
    pub const EXIT_INSTRUCTION_LENGTH: F32 = F32(0x440c);
    pub const GUEST_ES_LIMIT: F32 = F32(0x4800);
    pub const GUEST_CS_LIMIT: F32 = F32(0x4802);
    pub const GUEST_SS_LIMIT: F32 = F32(0x4804);
    pub const GUEST_DS_LIMIT: F32 = F32(0x4806);
    pub const GUEST_FS_LIMIT: F32 = F32(0x4808);
    pub const GUEST_GS_LIMIT: F32 = F32(0x480a);
    pub const GUEST_LDTR_LIMIT: F32 = F32(0x480c);
    pub const GUEST_TR_LIMIT: F32 = F32(0x480e);
    pub const GUEST_GDTR_LIMIT: F32 = F32(0x4810);
    pub const GUEST_IDTR_LIMIT: F32 = F32(0x4812);
    pub const GUEST_ES_AR: F32 = F32(0x4814);
    pub const GUEST_CS_AR: F32 = F32(0x4816);
    pub const GUEST_SS_AR: F32 = F32(0x4818);
    pub const GUEST_DS_AR: F32 = F32(0x481a);
    pub const GUEST_FS_AR: F32 = F32(0x481c);
    pub const GUEST_GS_AR: F32 = F32(0x481e);
    pub const GUEST_LDTR_AR: F32 = F32(0x4820);
    pub const GUEST_TR_AR: F32 = F32(0x4822);
    pub const GUEST_INTERRUPTIBILITY: F32 = F32(0x4824);
    pub const GUEST_ACTIVITY_STATE: F32 = F32(0x4826);
    pub const GUEST_SYSENTER_CS: F32 = F32(0x482a);
    pub const HOST_SYSENTER_CS: F32 = F32(0x4c00);

    pub const CR0_GUEST_HOST_MASK: FN = FN(0x6000);
    pub const CR4_GUEST_HOST_MASK: FN = FN(0x6002);
    pub const CR0_READ_SHADOW: FN = FN(0x6004);
    pub const CR4_READ_SHADOW: FN = FN(0x6006);
    pub const EXIT_QUALIFICATION: FN = FN(0x6400);
    pub const GUEST_LINEAR_ADDRESS: FN = FN(0x640a);
    pub const GUEST_CR0: FN = FN(0x6800);
    pub const GUEST_CR3: FN = FN(0x6802);
    pub const GUEST_CR4: FN = FN(0x6804);
    pub const GUEST_ES_BASE: FN = FN(0x6806);
    pub const GUEST_CS_BASE: FN = FN(0x6808);
    pub const GUEST_SS_BASE: FN = FN(0x680a);
    pub const GUEST_DS_BASE: FN = FN(0x680c);
    pub const GUEST_FS_BASE: FN = FN(0x680e);
    pub const GUEST_GS_BASE: FN = FN(0x6810);
    pub const GUEST_LDTR_BASE: FN = FN(0x6812);
    pub const GUEST_TR_BASE: FN = FN(0x6814);
    pub const GUEST_GDTR_BASE: FN = FN(0x6816);
    pub const GUEST_IDTR_BASE: FN = FN(0x6818);
    pub const GUEST_DR7: FN = FN(0x681a);
    pub const GUEST_RSP: FN = FN(0x681c);
    pub const GUEST_RIP: FN = FN(0x681e);
    pub const GUEST_RFLAGS: FN = FN(0x6820);
    pub const GUEST_PENDING_DEBUG: FN = FN(0x6822);
    pub const GUEST_SYSENTER_ESP: FN = FN(0x6824);
    pub const GUEST_SYSENTER_EIP: FN = FN(0x6826);
    pub const HOST_CR0: FN = FN(0x6c00);
    pub const HOST_CR3: FN = FN(0x6c02);
    pub const HOST_CR4: FN = FN(0x6c04);
    pub const HOST_FS_BASE: FN = FN(0x6c06);
    pub const HOST_GS_BASE: FN = FN(0x6c08);
    pub const HOST_TR_BASE: FN = FN(0x6c0a);
    pub const HOST_GDTR_BASE: FN = FN(0x6c0c);
    pub const HOST_IDTR_BASE: FN = FN(0x6c0e);
    pub const HOST_SYSENTER_ESP: FN = FN(0x6c10);
    pub const HOST_SYSENTER_EIP: FN = FN(0x6c12);
    pub const HOST_RSP: FN = FN(0x6c14);
    pub const HOST_RIP: FN = FN(0x6c16);
}

/// Pin-based VM-execution controls (SDM 25.6.1).
pub mod pin {
    /// External interrupts cause VM exits.
    pub const EXTERNAL_INTERRUPT: u32 = 1 << 0;
    /// NMIs cause VM exits.
    pub const NMI: u32 = 1 << 3;
    /// Virtual NMIs (NMI blocking tracked for the guest).
    pub const VIRTUAL_NMI: u32 = 1 << 5;
}

/// Primary processor-based VM-execution controls (SDM 25.6.2).
pub mod proc {
    /// Exit as soon as the guest can take an interrupt.
    pub const INTERRUPT_WINDOW: u32 = 1 << 2;
    /// HLT exits.
    pub const HLT: u32 = 1 << 7;
    /// MWAIT exits.
    pub const MWAIT: u32 = 1 << 10;
    /// RDPMC exits.
    pub const RDPMC: u32 = 1 << 11;
    /// MOV to/from DR exits.
    pub const MOV_DR: u32 = 1 << 23;
    /// I/O instructions consult the I/O bitmaps.
    pub const IO_BITMAPS: u32 = 1 << 25;
    /// RDMSR/WRMSR consult the MSR bitmap.
    pub const MSR_BITMAPS: u32 = 1 << 28;
    /// MONITOR exits.
    pub const MONITOR: u32 = 1 << 29;
    /// The secondary controls apply.
    pub const SECONDARY: u32 = 1 << 31;
}

/// Secondary processor-based VM-execution controls (SDM 25.6.2).
pub mod proc2 {
    /// EPT.
    pub const EPT: u32 = 1 << 1;
    /// RDTSCP does not #UD.
    pub const RDTSCP: u32 = 1 << 3;
    /// VPID-tagged TLBs.
    pub const VPID: u32 = 1 << 5;
    /// WBINVD exits.
    pub const WBINVD: u32 = 1 << 6;
    /// Real mode and unpaged protected mode run natively.
    pub const UNRESTRICTED_GUEST: u32 = 1 << 7;
    /// INVPCID does not #UD.
    pub const INVPCID: u32 = 1 << 12;
    /// XSAVES/XRSTORS do not #UD.
    pub const XSAVES: u32 = 1 << 20;
}

/// VM-exit controls (SDM 25.7.1).
pub mod exit {
    /// Save the guest's DR7 and IA32_DEBUGCTL.
    pub const SAVE_DEBUG: u32 = 1 << 2;
    /// The host runs in 64-bit mode.
    pub const HOST_ADDRESS_SPACE: u32 = 1 << 9;
    /// Acknowledge the external interrupt: its vector arrives in the exit information.
    pub const ACK_INTERRUPT: u32 = 1 << 15;
    /// Save the guest's IA32_PAT.
    pub const SAVE_PAT: u32 = 1 << 18;
    /// Load the host's IA32_PAT.
    pub const LOAD_PAT: u32 = 1 << 19;
    /// Save the guest's IA32_EFER.
    pub const SAVE_EFER: u32 = 1 << 20;
    /// Load the host's IA32_EFER.
    pub const LOAD_EFER: u32 = 1 << 21;
}

/// VM-entry controls (SDM 25.8.1).
pub mod entry {
    /// Load the guest's DR7 and IA32_DEBUGCTL.
    pub const LOAD_DEBUG: u32 = 1 << 2;
    /// The guest is in IA-32e mode (must equal guest EFER.LMA).
    pub const IA32E_GUEST: u32 = 1 << 9;
    /// Load the guest's IA32_PAT.
    pub const LOAD_PAT: u32 = 1 << 14;
    /// Load the guest's IA32_EFER.
    pub const LOAD_EFER: u32 = 1 << 15;
}

/// VMX capability MSRs (SDM Vol. 3D, A.1-A.10).
pub mod msr {
    /// IA32_FEATURE_CONTROL.
    pub const FEATURE_CONTROL: u32 = 0x3a;
    /// IA32_VMX_BASIC.
    pub const BASIC: u32 = 0x480;
    /// IA32_VMX_PINBASED_CTLS.
    pub const PINBASED: u32 = 0x481;
    /// IA32_VMX_PROCBASED_CTLS.
    pub const PROCBASED: u32 = 0x482;
    /// IA32_VMX_EXIT_CTLS.
    pub const EXIT: u32 = 0x483;
    /// IA32_VMX_ENTRY_CTLS.
    pub const ENTRY: u32 = 0x484;
    /// IA32_VMX_CR0_FIXED0.
    pub const CR0_FIXED0: u32 = 0x486;
    /// IA32_VMX_CR0_FIXED1.
    pub const CR0_FIXED1: u32 = 0x487;
    /// IA32_VMX_CR4_FIXED0.
    pub const CR4_FIXED0: u32 = 0x488;
    /// IA32_VMX_CR4_FIXED1.
    pub const CR4_FIXED1: u32 = 0x489;
    /// IA32_VMX_PROCBASED_CTLS2.
    pub const PROCBASED2: u32 = 0x48b;
    /// IA32_VMX_EPT_VPID_CAP.
    pub const EPT_VPID_CAP: u32 = 0x48c;
    /// IA32_VMX_TRUE_PINBASED_CTLS.
    pub const TRUE_PINBASED: u32 = 0x48d;
    /// IA32_VMX_TRUE_PROCBASED_CTLS.
    pub const TRUE_PROCBASED: u32 = 0x48e;
    /// IA32_VMX_TRUE_EXIT_CTLS.
    pub const TRUE_EXIT: u32 = 0x48f;
    /// IA32_VMX_TRUE_ENTRY_CTLS.
    pub const TRUE_ENTRY: u32 = 0x490;
}

/// Basic exit reasons (SDM Vol. 3D, appendix C).
#[allow(missing_docs)]
pub mod reason {
    pub const EXCEPTION_NMI: u16 = 0;
    pub const EXTERNAL_INTERRUPT: u16 = 1;
    pub const TRIPLE_FAULT: u16 = 2;
    pub const INIT: u16 = 3;
    pub const SIPI: u16 = 4;
    pub const INTERRUPT_WINDOW: u16 = 7;
    pub const NMI_WINDOW: u16 = 8;
    pub const TASK_SWITCH: u16 = 9;
    pub const CPUID: u16 = 10;
    pub const GETSEC: u16 = 11;
    pub const HLT: u16 = 12;
    pub const INVD: u16 = 13;
    pub const RDPMC: u16 = 15;
    pub const VMCALL: u16 = 18;
    pub const VMCLEAR: u16 = 19;
    pub const VMLAUNCH: u16 = 20;
    pub const VMPTRLD: u16 = 21;
    pub const VMPTRST: u16 = 22;
    pub const VMREAD: u16 = 23;
    pub const VMRESUME: u16 = 24;
    pub const VMWRITE: u16 = 25;
    pub const VMXOFF: u16 = 26;
    pub const VMXON: u16 = 27;
    pub const CR_ACCESS: u16 = 28;
    pub const DR_ACCESS: u16 = 29;
    pub const IO: u16 = 30;
    pub const RDMSR: u16 = 31;
    pub const WRMSR: u16 = 32;
    pub const ENTRY_FAIL_GUEST_STATE: u16 = 33;
    pub const ENTRY_FAIL_MSR: u16 = 34;
    pub const MWAIT: u16 = 36;
    pub const MONITOR: u16 = 39;
    pub const ENTRY_FAIL_MACHINE_CHECK: u16 = 41;
    pub const EPT_VIOLATION: u16 = 48;
    pub const EPT_MISCONFIG: u16 = 49;
    pub const INVEPT: u16 = 50;
    pub const INVVPID: u16 = 53;
    pub const WBINVD: u16 = 54;
    pub const XSETBV: u16 = 55;
    pub const INVPCID: u16 = 58;
    pub const VMFUNC: u16 = 59;
    pub const ENCLS: u16 = 60;
}

/// `(want | allowed0) & allowed1` for a capability MSR whose low half says which bits
/// must be 1 and whose high half which may be 1 (SDM Vol. 3D, A.3.1): the control value
/// closest to `want`, and the wanted bits the CPU does not allow.
pub const fn adjust(want: u32, capability: u64) -> (u32, u32) {
    let must = capability as u32;
    let may = (capability >> 32) as u32;
    ((want | must) & may, want & !may)
}

/// Event injection (VM-entry interruption information, SDM 25.8.3).
pub mod inject {
    /// The information is valid.
    pub const VALID: u32 = 1 << 31;
    /// External interrupt.
    pub const EXTERNAL: u32 = 0 << 8;
    /// NMI.
    pub const NMI: u32 = 2 << 8;
    /// Hardware exception.
    pub const EXCEPTION: u32 = 3 << 8;
    /// Deliver an error code.
    pub const ERROR_CODE: u32 = 1 << 11;
}

/// The MSR bitmap (SDM Vol. 3C 25.6.9): a 4 KiB page, read-low, read-high, write-low,
/// write-high, one bit per MSR, set = exit. Everything exits but the `passthrough`
/// MSRs (both ways) and the reads of `read_only` ones.
pub fn msr_bitmap(passthrough: &[u32], read_only: &[u32]) -> [u8; 4096] {
    let mut b = [0xffu8; 4096];
    let mut clear = |msr: u32, write: bool| {
        let (base, index) = match msr {
            0..=0x1fff => (0, msr),
            0xc000_0000..=0xc000_1fff => (1024, msr - 0xc000_0000),
            _ => return,
        };
        let at = base + if write { 2048 } else { 0 } + (index / 8) as usize;
        b[at] &= !(1 << (index % 8));
    };
    for &m in passthrough {
        clear(m, false);
        clear(m, true);
    }
    for &m in read_only {
        clear(m, false);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjust_forces_required_bits_and_drops_forbidden_ones() {
        // Bochs skylake_x TRUE_PINBASED: allowed-0 = 0x16, allowed-1 = 0x7f.
        let cap = 0x0000_007f_0000_0016;
        assert_eq!(adjust(pin::EXTERNAL_INTERRUPT | pin::NMI, cap), (0x1f, 0));
        assert_eq!(adjust(1 << 7, cap), (0x16, 1 << 7));
    }

    fn exits(b: &[u8; 4096], msr: u32, write: bool) -> bool {
        let (base, index) = if msr >= 0xc000_0000 { (1024, msr - 0xc000_0000) } else { (0, msr) };
        let at = base + if write { 2048 } else { 0 } + (index / 8) as usize;
        b[at] & (1 << (index % 8)) != 0
    }

    #[test]
    fn the_msr_bitmap_passes_exactly_the_allow_list() {
        use crate::msr::{EFER, FEATURE_CONTROL, PASSTHROUGH, READ_ONLY, TSC};
        let b = msr_bitmap(PASSTHROUGH, READ_ONLY);
        assert!(!exits(&b, 0xc000_0100, true) && !exits(&b, 0xc000_0100, false));
        assert!(!exits(&b, EFER, false) && exits(&b, EFER, true));
        assert!(!exits(&b, TSC, false) && exits(&b, TSC, true));
        assert!(exits(&b, 0x802, false) && exits(&b, 0x830, true), "x2APIC traps");
        assert!(exits(&b, 0x186, true), "PERFEVTSEL0 traps");
        assert!(exits(&b, FEATURE_CONTROL, false));
    }
}

//! Decoding ESR_EL2 for exits from a lower exception level (Arm ARM D17.2.37).

use bulkhead_core::addr::GuestPhysAddr;

/// A trapped system-register access (EC 0x18), identified by its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysReg {
    /// op0, op1, CRn, CRm, op2 packed as in [`sysreg`].
    pub id: u32,
    /// The general-purpose register transferred (31 = XZR).
    pub rt: u8,
    /// Whether the guest read the register (MRS).
    pub read: bool,
}

/// Packs a system-register encoding for comparison with [`SysReg::id`].
pub const fn sysreg(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
    (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (crm << 1)
}

/// ICC_SGI1R_EL1: S3_0_C12_C11_5.
pub const ICC_SGI1R_EL1: u32 = sysreg(3, 0, 12, 11, 5);

/// A data abort's syndrome (ISS encoding for an exception from a Data Abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// ISV: the fields below are valid and the access can be emulated.
    pub valid: bool,
    /// WnR: a store.
    pub write: bool,
    /// Access size in bytes.
    pub size: u8,
    /// Register transferred (31 = XZR).
    pub srt: u8,
    /// SSE: sign-extend a load.
    pub sign_extend: bool,
    /// SF: 64-bit register.
    pub sixty_four: bool,
}

/// Why the guest trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// WFI or WFE (EC 0x01).
    Wfx,
    /// HVC from AArch64 (EC 0x16).
    Hvc,
    /// SMC from AArch64 (EC 0x17); ELR_EL2 points at the SMC itself.
    Smc,
    /// MSR/MRS/SYS trap (EC 0x18).
    SysReg(SysReg),
    /// Instruction abort from a lower EL (EC 0x20).
    InstructionAbort,
    /// Data abort from a lower EL (EC 0x24).
    DataAbort(DataAbort),
    /// Anything else, by exception class.
    Other(u8),
}

/// Exception class of an instruction abort from a lower EL.
pub const EC_IABT_LOWER: u8 = 0x20;
/// Exception class of an instruction abort taken without a change in EL.
pub const EC_IABT_CURRENT: u8 = 0x21;
/// Exception class of a data abort from a lower EL.
pub const EC_DABT_LOWER: u8 = 0x24;
/// Exception class of a data abort taken without a change in EL.
pub const EC_DABT_CURRENT: u8 = 0x25;
/// Fault status code (IFSC/DFSC) of a synchronous external abort, not on a translation
/// table walk.
pub const FSC_SYNC_EXTERNAL: u64 = 0b01_0000;
/// Bytes of an exception vector table (`VBAR_ELx`: 16 entries of 128 bytes).
pub const VECTORS_SIZE: u64 = 0x800;

/// The exception class field.
pub const fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Decodes an ESR_EL2 value taken from a lower EL.
#[inline]
pub const fn decode(esr: u64) -> Trap {
    let iss = esr & 0x1ff_ffff;
    match class(esr) {
        0x01 => Trap::Wfx,
        0x16 => Trap::Hvc,
        0x17 => Trap::Smc,
        0x18 => Trap::SysReg(SysReg {
            id: (iss & 0x3f_fc1e) as u32,
            rt: ((iss >> 5) & 0x1f) as u8,
            read: iss & 1 == 1,
        }),
        0x20 => Trap::InstructionAbort,
        0x24 => Trap::DataAbort(DataAbort {
            valid: iss & (1 << 24) != 0,
            write: iss & (1 << 6) != 0,
            size: 1 << ((iss >> 22) & 3),
            srt: ((iss >> 16) & 0x1f) as u8,
            sign_extend: iss & (1 << 21) != 0,
            sixty_four: iss & (1 << 15) != 0,
        }),
        ec => Trap::Other(ec),
    }
}

/// The faulting IPA from HPFAR_EL2 (page, bits 47:12 in FIPA bits 43:4) and the page
/// offset from FAR_EL2.
pub const fn fault_ipa(hpfar: u64, far: u64) -> GuestPhysAddr {
    GuestPhysAddr::new(((hpfar >> 4) & 0xff_ffff_ffff) << 12 | (far & 0xfff))
}

/// The offset from `VBAR_EL1` of the synchronous-exception vector for an exception taken
/// to EL1 from the state saved in `spsr` (Arm ARM D1.10.2): current EL with SP_EL0
/// (0x000) or SP_EL1 (0x200), lower EL in AArch64 (0x400) or AArch32 (0x600).
pub const fn sync_vector_offset(spsr: u64) -> u64 {
    if spsr & 0x10 != 0 {
        return 0x600; // M[4]: AArch32, necessarily EL0 (EL1 is AArch64: HCR_EL2.RW)
    }
    match spsr & 0xf {
        0b0101 => 0x200, // EL1h
        0b0100 => 0x000, // EL1t
        _ => 0x400,      // EL0t
    }
}

/// The ESR_EL1 of the synchronous external abort the guest takes for the stage-2 abort
/// `esr_el2` (an instruction or data abort from EL1 or EL0, whose PSTATE is `spsr`), or
/// `None` for any other exception class. As on hardware for an access nothing answers:
/// EC = instruction or data abort at the current EL (from EL1) or a lower EL (from EL0),
/// IL as trapped, fault status "synchronous external abort, not on a translation table
/// walk"; a data abort keeps WnR and CM (Arm ARM D17.2.40, ISS encodings for aborts).
/// Like KVM, a walk of the guest's own tables through memory it does not own reports the
/// same status, not the walk-level one.
pub const fn external_abort(esr_el2: u64, spsr: u64) -> Option<u64> {
    let from_el1 = spsr & 0x10 == 0 && spsr & 0xf != 0;
    let ec = match (class(esr_el2), from_el1) {
        (EC_IABT_LOWER, true) => EC_IABT_CURRENT,
        (EC_IABT_LOWER, false) => EC_IABT_LOWER,
        (EC_DABT_LOWER, true) => EC_DABT_CURRENT,
        (EC_DABT_LOWER, false) => EC_DABT_LOWER,
        _ => return None,
    };
    let il = esr_el2 & (1 << 25);
    let keep = if class(esr_el2) == EC_DABT_LOWER { esr_el2 & (1 << 8 | 1 << 6) } else { 0 }; // CM, WnR
    Some((ec as u64) << 26 | il | keep | FSC_SYNC_EXTERNAL)
}

/// The value an emulated load leaves in its register: sign- or zero-extended from
/// `size` bytes, truncated to 32 bits for a W register.
pub const fn load_value(abort: &DataAbort, raw: u64) -> u64 {
    let bits = abort.size as u32 * 8;
    let mut value = if bits >= 64 { raw } else { raw & ((1u64 << bits) - 1) };
    if abort.sign_extend && bits < 64 {
        let shift = 64 - bits;
        value = (((value << shift) as i64) >> shift) as u64;
    }
    if !abort.sixty_four {
        value &= 0xffff_ffff;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_fields() {
        // str w1, [x0] to an unmapped IPA: EC 0x24, IL, ISV, SAS=2 (word), SRT=1, WnR.
        let esr = 0x9381_0046;
        let Trap::DataAbort(a) = decode(esr) else { panic!("not a data abort") };
        assert!(a.valid && a.write && !a.sixty_four);
        assert_eq!((a.size, a.srt), (4, 1));
        // ldr x3, [x2] (64-bit load): SAS=3, SF=1, SRT=3, not a write.
        let Trap::DataAbort(b) = decode(0x93C3_8006) else { panic!() };
        assert!(b.valid && !b.write && b.sixty_four);
        assert_eq!((b.size, b.srt), (8, 3));
    }

    #[test]
    fn classes() {
        assert_eq!(decode(0x5A00_0000), Trap::Hvc);
        assert_eq!(decode(0x5E00_0000), Trap::Smc);
        assert_eq!(decode(0x0600_0001), Trap::Wfx);
        assert_eq!(decode(0x8200_000F), Trap::InstructionAbort);
        assert_eq!(decode(0x0200_0000), Trap::Other(0));
    }

    #[test]
    fn sysreg_trap_identifies_icc_sgi1r() {
        // msr ICC_SGI1R_EL1, x5: op0=3 op2=5 op1=0 CRn=12 Rt=5 CRm=11, direction write.
        let iss = (3 << 20) | (5 << 17) | (12 << 10) | (5 << 5) | (11 << 1);
        let Trap::SysReg(r) = decode((0x18 << 26) | (1 << 25) | iss) else { panic!() };
        assert_eq!(r, SysReg { id: ICC_SGI1R_EL1, rt: 5, read: false });
    }

    #[test]
    fn external_aborts_look_like_hardware_ones() {
        const EL1H: u64 = 0x3c5;
        const EL0T: u64 = 0x0;
        // str w1, [x0] to an unmapped IPA (stage-2 translation fault, level 1).
        let store = 0x9381_0045;
        assert_eq!(external_abort(store, EL1H), Some(0x9600_0050), "EC 0x25, IL, WnR, DFSC 0x10");
        assert_eq!(external_abort(store, EL0T), Some(0x9200_0050), "from EL0: EC 0x24");
        // An instruction fetch from an unmapped IPA (IFSC: translation fault, level 2).
        let fetch = 0x8200_0006;
        assert_eq!(external_abort(fetch, EL1H), Some(0x8600_0010), "EC 0x21, IL, IFSC 0x10");
        assert_eq!(external_abort(fetch, 0x10), Some(0x8200_0010), "from AArch32 EL0: EC 0x20");
        // DC CIVAC to an unmapped IPA: CM and WnR stay; syndrome bits (ISV, SRT) do not.
        assert_eq!(external_abort(0x9381_0146, EL1H), Some(0x9600_0150));
        assert_eq!(external_abort(0x5A00_0000, EL1H), None, "an HVC is no abort");
    }

    #[test]
    fn vector_offsets_follow_the_saved_state() {
        assert_eq!(sync_vector_offset(0x3c5), 0x200);
        assert_eq!(sync_vector_offset(0x3c4), 0x000);
        assert_eq!(sync_vector_offset(0x0), 0x400);
        assert_eq!(sync_vector_offset(0x10), 0x600);
    }

    #[test]
    fn ipa_and_load_extension() {
        assert_eq!(fault_ipa(0x0090_0000 >> 8 << 4, 0xffff_0000_0000_0abc).as_u64(), 0x0900_0abc);
        let byte_signed = DataAbort { valid: true, write: false, size: 1, srt: 0, sign_extend: true, sixty_four: true };
        assert_eq!(load_value(&byte_signed, 0x80), 0xffff_ffff_ffff_ff80);
        let word = DataAbort { sixty_four: false, size: 2, ..byte_signed };
        assert_eq!(load_value(&word, 0x8000), 0xffff_8000);
    }
}

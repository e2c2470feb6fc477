//! Which MSRs a partition may touch, and how (doc/x86.md): an explicit allow list.
//!
//! - Passthrough (no exit): state the VMCS saves and loads on every transition or that
//!   only the owning vCPU's CPU uses (FS/GS bases, SYSCALL targets, SYSENTER, PAT,
//!   TSC_AUX), and reads of EFER and the TSC.
//! - Emulated: the x2APIC and the TSC deadline (the virtual APIC), IA32_APIC_BASE,
//!   EFER writes, and a few read-mostly registers firmware-era code probes.
//! - Everything else: #GP, as on a CPU without that MSR.

/// IA32_TIME_STAMP_COUNTER.
pub const TSC: u32 = 0x10;
/// IA32_APIC_BASE.
pub const APIC_BASE: u32 = 0x1b;
/// IA32_FEATURE_CONTROL.
pub const FEATURE_CONTROL: u32 = 0x3a;
/// IA32_EFER.
pub const EFER: u32 = 0xc000_0080;

/// Passed through for reads and writes.
pub const PASSTHROUGH: &[u32] = &[
    0x174,       // IA32_SYSENTER_CS (VMCS guest state)
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0x277,       // IA32_PAT (saved and loaded on exits and entries)
    0xc000_0081, // STAR
    0xc000_0082, // LSTAR
    0xc000_0083, // CSTAR
    0xc000_0084, // SFMASK
    0xc000_0100, // FS_BASE (VMCS guest state)
    0xc000_0101, // GS_BASE (VMCS guest state)
    0xc000_0102, // KERNEL_GS_BASE (only this vCPU's CPU uses it)
    0xc000_0103, // TSC_AUX
];

/// Passed through for reads only (writes exit).
pub const READ_ONLY: &[u32] = &[TSC, EFER];

/// What a trapped access does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The virtual local APIC's register (x2APIC range or the TSC deadline).
    Apic,
    /// Read this constant; writes are ignored.
    Constant(u64),
    /// IA32_APIC_BASE: reads x2APIC enabled; writes that keep it so are accepted.
    ApicBase,
    /// EFER: writes of SCE, LME, NXE go to the guest's EFER.
    Efer,
    /// A write that is accepted and has no effect (microcode update triggers, TSC).
    Ignore,
    /// #GP.
    Fault,
}

/// EFER bits a guest may set: SCE, LME, LMA (recomputed), NXE.
pub const EFER_WRITABLE: u64 = (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11);

/// How a trapped `RDMSR` (`write == false`) or `WRMSR` of `msr` is handled.
pub fn classify(msr: u32, write: bool) -> Access {
    match msr {
        0x800..=0x8ff | 0x6e0 => Access::Apic,
        APIC_BASE => Access::ApicBase,
        EFER if write => Access::Efer,
        TSC | 0x79 if write => Access::Ignore, // TSC, IA32_BIOS_UPDT_TRIG
        FEATURE_CONTROL if !write => Access::Constant(1), // locked, VMX off
        0x8b if !write => Access::Constant(0),            // IA32_BIOS_SIGN_ID
        0x8b => Access::Ignore,
        0xfe | 0x2ff if !write => Access::Constant(0),    // MTRRcap, MTRRdefType: no MTRRs
        0x1a0 if !write => Access::Constant((1 << 0) | (1 << 11) | (1 << 12)), // MISC_ENABLE: fast strings, no BTS/PEBS
        0x179 | 0x17a if !write => Access::Constant(0), // MCG_CAP, MCG_STATUS: no machine-check banks
        _ => Access::Fault,
    }
}

/// The MSR bitmap (SDM Vol. 3C 25.6.9): a 4 KiB page, read-low, read-high, write-low,
/// write-high, one bit per MSR, set = exit. Everything exits but [`PASSTHROUGH`] and
/// the reads of [`READ_ONLY`].
pub fn bitmap() -> [u8; 4096] {
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
    for &m in PASSTHROUGH {
        clear(m, false);
        clear(m, true);
    }
    for &m in READ_ONLY {
        clear(m, false);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exits(b: &[u8; 4096], msr: u32, write: bool) -> bool {
        let (base, index) = if msr >= 0xc000_0000 { (1024, msr - 0xc000_0000) } else { (0, msr) };
        let at = base + if write { 2048 } else { 0 } + (index / 8) as usize;
        b[at] & (1 << (index % 8)) != 0
    }

    #[test]
    fn the_bitmap_passes_exactly_the_allow_list() {
        let b = bitmap();
        assert!(!exits(&b, 0xc000_0100, true) && !exits(&b, 0xc000_0100, false));
        assert!(!exits(&b, EFER, false) && exits(&b, EFER, true));
        assert!(!exits(&b, TSC, false) && exits(&b, TSC, true));
        assert!(exits(&b, 0x802, false) && exits(&b, 0x830, true), "x2APIC traps");
        assert!(exits(&b, 0x186, true), "PERFEVTSEL0 traps");
        assert!(exits(&b, FEATURE_CONTROL, false));
    }

    #[test]
    fn unknown_msrs_fault_and_probes_read_constants() {
        assert_eq!(classify(0x186, true), Access::Fault);
        assert_eq!(classify(0x12345, false), Access::Fault);
        assert_eq!(classify(0x480, false), Access::Fault, "VMX capabilities stay hidden");
        assert_eq!(classify(FEATURE_CONTROL, false), Access::Constant(1));
        assert_eq!(classify(FEATURE_CONTROL, true), Access::Fault);
        assert_eq!(classify(0x830, true), Access::Apic);
    }
}

//! Which MSRs a partition may touch, and how (doc/x86.md): an explicit allow list.
//!
//! - Passthrough (no exit): state the VMCS or VMCB holds for the guest or that only
//!   the owning vCPU's CPU uses (FS/GS bases, SYSCALL targets, SYSENTER, PAT,
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

/// Passed through for reads only (writes exit). SVM intercepts EFER reads as well: its
/// guest EFER has SVME set, which the partition must not see.
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
    /// EFER: writes of SCE, LME, NXE go to the guest's EFER; reads (which exit only
    /// on SVM, whose guest EFER carries SVME) return the guest's view.
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
        EFER => Access::Efer,
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

#[cfg(test)]
mod tests {
    use super::*;

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

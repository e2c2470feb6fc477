//! The CPUID a partition sees: the machine's, filtered (doc/x86.md, "CPUID").
//!
//! Hidden: virtualization (VMX, SVM, SMX), MONITOR/MWAIT (they would let a guest park
//! its CPU in ways the hypervisor does not model), the performance-monitoring unit,
//! thermal and power management, debug stores, SGX, processor trace, and AMD's
//! extended APIC space, IBS, LWP, node and topology extensions and SEV. Shown: the
//! hypervisor bit and Bulkhead's leaves, the vCPU's own x2APIC id and the partition's
//! topology (leaves 0xb and 0x80000008), the TSC frequency (leaves 0x15/0x16), which is
//! also the APIC timer's, and what the virtual APIC is whatever the machine has: an
//! x2APIC with a TSC-deadline timer that always runs (ARAT).

/// Registers of one CPUID result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// What the filter needs to know about the asking vCPU.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Its x2APIC id (the vCPU index).
    pub apic_id: u32,
    /// The partition's vCPU count.
    pub vcpus: u32,
    /// The partition id.
    pub partition: u32,
    /// TSC frequency in kHz.
    pub tsc_khz: u32,
}

/// Bulkhead's hypervisor leaves.
pub const HV_BASE: u32 = 0x4000_0000;
/// "BulkheadHV\0\0" in EBX, ECX, EDX.
const SIGNATURE: [u32; 3] = [
    u32::from_le_bytes(*b"Bulk"),
    u32::from_le_bytes(*b"head"),
    u32::from_le_bytes(*b"HV\0\0"),
];
/// Highest basic leaf shown.
const MAX_BASIC: u32 = 0x16;
/// Highest extended leaf shown.
const MAX_EXTENDED: u32 = 0x8000_0008;

/// The partition's view of `leaf`/`subleaf`, given what the machine answered (`host`).
pub fn filter(leaf: u32, subleaf: u32, host: Regs, v: &View) -> Regs {
    let mut r = host;
    match leaf {
        0 => r.eax = host.eax.min(MAX_BASIC),
        1 => {
            // Clear: MONITOR(3), DS-CPL(4), VMX(5), SMX(6), EST(7), TM2(8), PDCM(15).
            r.ecx &= !((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 15));
            r.ecx |= (1 << 21) | (1 << 24); // the virtual APIC: x2APIC, TSC deadline
            r.ecx |= 1 << 31; // running under a hypervisor
            // Clear: DS(21), ACPI thermal(22), HTT(28), TM(29), PBE(31).
            r.edx &= !((1 << 21) | (1 << 22) | (1 << 28) | (1 << 29) | (1 << 31));
            r.ebx = (host.ebx & 0xffff) | (v.apic_id.min(255) << 24);
        }
        4 => r.eax &= 0x3ff, // one core and one thread per cache, as far as this says
        5 | 0xa => r = Regs::default(), // MONITOR, PMU
        6 => r = Regs { eax: 1 << 2, ..Regs::default() }, // thermal/power: only ARAT
        7 if subleaf == 0 => {
            // EBX: SGX(2), RDT-M(12), RDT-A(15), processor trace(25).
            r.ebx &= !((1 << 2) | (1 << 12) | (1 << 15) | (1 << 25));
            // ECX: WAITPKG(5), SGX launch control(30).
            r.ecx &= !((1 << 5) | (1 << 30));
        }
        0xb | 0x1f => r = topology(subleaf, v),
        0x12 | 0x14 => r = Regs::default(), // SGX, processor trace
        0x15 => r = Regs { eax: 1, ebx: 1, ecx: v.tsc_khz.saturating_mul(1000), edx: 0 },
        0x16 => r = Regs { eax: v.tsc_khz / 1000, ebx: v.tsc_khz / 1000, ecx: 100, edx: 0 },
        HV_BASE => r = Regs { eax: HV_BASE + 1, ebx: SIGNATURE[0], ecx: SIGNATURE[1], edx: SIGNATURE[2] },
        0x4000_0001 => r = Regs { eax: v.vcpus, ebx: v.partition, ecx: v.tsc_khz, edx: 0 },
        0x4000_0002..=0x4fff_ffff => r = Regs::default(),
        0x8000_0000 => r.eax = host.eax.min(MAX_EXTENDED),
        0x8000_0001 => {
            // CmpLegacy(1), SVM(2), ExtApicSpace(3), IBS(10), SKINIT(12), WDT(13),
            // LWP(15), TCE(17), NodeId(19), TopoExt(22), PerfCtrExtCore(23),
            // PerfCtrExtNB(24), DataBkptExt(26), PerfTsc(27), PerfCtrExtLLC(28),
            // MONITORX(29).
            r.ecx &= !((1 << 1) | (1 << 2) | (1 << 3) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 17));
            r.ecx &= !((1 << 19) | (1 << 22) | (1 << 23) | (1 << 24) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29));
        }
        0x8000_0007 => r = Regs { edx: host.edx & (1 << 8), ..Regs::default() }, // invariant TSC only
        0x8000_0008 => {
            // Address sizes as the machine's; the partition's vCPUs as one package.
            let core_bits = 32 - v.vcpus.saturating_sub(1).leading_zeros();
            r.ecx = (core_bits << 12) | v.vcpus.saturating_sub(1).min(255);
            r.edx = 0;
        }
        l if l > MAX_EXTENDED => r = Regs::default(),
        l if l > MAX_BASIC && l < HV_BASE => r = Regs::default(),
        _ => {}
    }
    r
}

/// The CR4 bits a partition may not set, given the leaf 1 and leaf 7 (subleaf 0) it
/// sees: VMXE and SMXE always, and every feature bit whose feature it is not shown.
pub fn cr4_reserved(leaf1: Regs, leaf7: Regs) -> u64 {
    // VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT: every x86_64 CPU.
    let mut allowed: u64 = 0x7ff;
    let shown = [
        (11, leaf7.ecx & (1 << 2)),  // UMIP
        (12, leaf7.ecx & (1 << 16)), // LA57
        (16, leaf7.ebx & 1),         // FSGSBASE
        (17, leaf1.ecx & (1 << 17)), // PCIDE
        (18, leaf1.ecx & (1 << 26)), // OSXSAVE
        (20, leaf7.ebx & (1 << 7)),  // SMEP
        (21, leaf7.ebx & (1 << 20)), // SMAP
        (22, leaf7.ecx & (1 << 3)),  // PKE
        (23, leaf7.ecx & (1 << 7)),  // CET
    ];
    for (bit, feature) in shown {
        if feature != 0 {
            allowed |= 1 << bit;
        }
    }
    !allowed
}

/// Leaf 0xB/0x1F: one thread per core, `vcpus` cores in one package.
fn topology(subleaf: u32, v: &View) -> Regs {
    let core_bits = 32 - v.vcpus.saturating_sub(1).leading_zeros();
    let (eax, ebx, kind) = match subleaf {
        0 => (0, 1, 1),                 // SMT level: one thread
        1 => (core_bits, v.vcpus, 2),   // core level
        _ => (0, 0, 0),
    };
    Regs { eax, ebx, ecx: (kind << 8) | (subleaf & 0xff), edx: v.apic_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: View = View { apic_id: 2, vcpus: 3, partition: 1, tsc_khz: 10_000 };
    const ALL: Regs = Regs { eax: u32::MAX, ebx: u32::MAX, ecx: u32::MAX, edx: u32::MAX };

    #[test]
    fn virtualization_and_monitoring_are_hidden_the_hypervisor_shown() {
        let one = filter(1, 0, ALL, &V);
        assert_eq!(one.ecx & (1 << 5), 0, "no VMX");
        assert_eq!(one.ecx & (1 << 3), 0, "no MONITOR");
        assert_ne!(one.ecx & (1 << 31), 0, "hypervisor bit");
        assert_eq!(one.ebx >> 24, 2, "own APIC id");
        assert_eq!(filter(0xa, 0, ALL, &V), Regs::default(), "no PMU");
        assert_eq!(filter(0x8000_0001, 0, ALL, &V).ecx & 4, 0, "no SVM");
        assert_eq!(filter(0, 0, ALL, &V).eax, MAX_BASIC);
        assert_eq!(filter(0x8000_000a, 0, ALL, &V), Regs::default(), "no SVM leaf");
        assert_eq!(filter(0x8000_0000, 0, ALL, &V).eax, MAX_EXTENDED);
        assert_eq!(filter(0x8000_0001, 0, ALL, &V).ecx & (1 << 22), 0, "no AMD topology extensions");
    }

    #[test]
    fn the_virtual_apic_is_shown_whatever_the_machine_has() {
        let one = filter(1, 0, Regs::default(), &V);
        assert_ne!(one.ecx & (1 << 21), 0, "x2APIC");
        assert_ne!(one.ecx & (1 << 24), 0, "TSC deadline");
        assert_eq!(filter(6, 0, ALL, &V), Regs { eax: 1 << 2, ..Regs::default() }, "ARAT only");
        let sizes = filter(0x8000_0008, 0, ALL, &V);
        assert_eq!(sizes.eax, u32::MAX, "address sizes are the machine's");
        assert_eq!(sizes.ecx, (2 << 12) | 2, "three cores");
    }

    #[test]
    fn bulkhead_leaves_and_topology() {
        let sig = filter(HV_BASE, 0, Regs::default(), &V);
        let mut name = [0u8; 12];
        name[..4].copy_from_slice(&sig.ebx.to_le_bytes());
        name[4..8].copy_from_slice(&sig.ecx.to_le_bytes());
        name[8..].copy_from_slice(&sig.edx.to_le_bytes());
        assert_eq!(&name, b"BulkheadHV\0\0");
        assert_eq!(filter(HV_BASE + 1, 0, Regs::default(), &V), Regs { eax: 3, ebx: 1, ecx: 10_000, edx: 0 });
        let core = filter(0xb, 1, Regs::default(), &V);
        assert_eq!((core.eax, core.ebx, core.edx), (2, 3, 2));
        assert_eq!(filter(0x15, 0, Regs::default(), &V).ecx, 10_000_000);
    }

    #[test]
    fn cr4_allows_exactly_the_features_shown() {
        let reserved = cr4_reserved(filter(1, 0, ALL, &V), filter(7, 0, ALL, &V));
        assert_ne!(reserved & (1 << 13), 0, "VMXE");
        assert_ne!(reserved & (1 << 14), 0, "SMXE");
        assert_eq!(reserved & ((1 << 5) | (1 << 7) | (1 << 18) | (1 << 20)), 0, "PAE, PGE, OSXSAVE, SMEP");
        let bare = cr4_reserved(Regs::default(), Regs::default());
        assert_eq!(!bare, 0x7ff, "nothing optional without its CPUID bit");
    }
}

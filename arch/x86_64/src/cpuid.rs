//! The CPUID a partition sees: the machine's, filtered (doc/x86.md, "CPUID").
//!
//! Hidden: virtualization (VMX, SVM, SMX), MONITOR/MWAIT (they would let a guest park
//! its CPU in ways the hypervisor does not model), the performance-monitoring unit,
//! thermal and power management, debug stores, SGX, processor trace. Shown: the
//! hypervisor bit and Bulkhead's leaves, the vCPU's own x2APIC id and the partition's
//! topology, and the TSC frequency (leaves 0x15/0x16), which is also the APIC timer's.

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

/// The partition's view of `leaf`/`subleaf`, given what the machine answered (`host`).
pub fn filter(leaf: u32, subleaf: u32, host: Regs, v: &View) -> Regs {
    let mut r = host;
    match leaf {
        0 => r.eax = host.eax.min(MAX_BASIC),
        1 => {
            // Clear: MONITOR(3), DS-CPL(4), VMX(5), SMX(6), EST(7), TM2(8), PDCM(15).
            r.ecx &= !((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 15));
            r.ecx |= 1 << 31; // running under a hypervisor
            // Clear: DS(21), ACPI thermal(22), HTT(28), TM(29), PBE(31).
            r.edx &= !((1 << 21) | (1 << 22) | (1 << 28) | (1 << 29) | (1 << 31));
            r.ebx = (host.ebx & 0xffff) | (v.apic_id.min(255) << 24);
        }
        4 => r.eax &= 0x3ff, // one core and one thread per cache, as far as this says
        5 | 6 | 0xa => r = Regs::default(), // MONITOR, thermal/power, PMU
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
        0x8000_0001 => {
            r.ecx &= !(1 << 2); // SVM
        }
        l if l > MAX_BASIC && l < HV_BASE => r = Regs::default(),
        _ => {}
    }
    r
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
}

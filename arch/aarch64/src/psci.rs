//! PSCI as the partition sees it: decoding SMC/HVC function ids (Arm DEN0022 5.1).
//!
//! Calls that need a decision about the partition become a core
//! [`PowerRequest`]; queries answer at once. Anything else is NOT_SUPPORTED.

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::vcpu::PowerRequest;

/// PSCI_VERSION.
pub const VERSION: u32 = 0x8400_0000;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON, SMC32 and SMC64.
pub const CPU_ON_32: u32 = 0x8400_0003;
/// CPU_ON, SMC64.
pub const CPU_ON_64: u32 = 0xC400_0003;
/// AFFINITY_INFO, SMC32.
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// AFFINITY_INFO, SMC64.
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// MIGRATE_INFO_TYPE.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// PSCI_FEATURES.
pub const FEATURES: u32 = 0x8400_000A;
/// SMCCC_VERSION (Arm DEN0028 7.2).
pub const SMCCC_VERSION: u32 = 0x8000_0000;

/// The version Bulkhead's emulation reports: PSCI 1.0.
pub const EMULATED_VERSION: i64 = 0x1_0000;
const NOT_SUPPORTED: i64 = -1;
/// MIGRATE_INFO_TYPE: no Trusted OS, nothing to migrate.
const NO_TRUSTED_OS: i64 = 2;

/// What a firmware call turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Answer at once with this value in x0.
    Answer(i64),
    /// A decision core takes.
    Power(PowerRequest),
}

/// Whether `function` is a PSCI or SMCCC architecture-service id Bulkhead decodes.
#[inline]
pub const fn is_firmware_call(function: u64) -> bool {
    let f = function as u32;
    function >> 32 == 0 && (f & 0xBF00_0000 == 0x8400_0000 || f == SMCCC_VERSION)
}

/// Decodes a firmware call whose registers are `x[0..4]`.
#[inline]
pub fn decode(x: [u64; 4]) -> Call {
    let function = if x[0] >> 32 == 0 { x[0] as u32 } else { 0 };
    match function {
        VERSION => Call::Answer(EMULATED_VERSION),
        SMCCC_VERSION => Call::Answer(0x1_0001),
        MIGRATE_INFO_TYPE => Call::Answer(NO_TRUSTED_OS),
        FEATURES => Call::Answer(if supported(x[1]) { 0 } else { NOT_SUPPORTED }),
        CPU_OFF => Call::Power(PowerRequest::CpuOff),
        CPU_ON_32 | CPU_ON_64 => {
            let entry = GuestPhysAddr::new(arg(function, x[2]));
            let context = arg(function, x[3]);
            Call::Power(PowerRequest::CpuOn { target: vcpu_of(arg(function, x[1])), entry, context })
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 if x[2] == 0 => {
            Call::Power(PowerRequest::AffinityInfo { target: vcpu_of(arg(function, x[1])) })
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => Call::Answer(-2),
        SYSTEM_OFF => Call::Power(PowerRequest::SystemOff),
        SYSTEM_RESET => Call::Power(PowerRequest::SystemReset),
        _ => Call::Answer(NOT_SUPPORTED),
    }
}

fn supported(function: u64) -> bool {
    let Ok(f) = u32::try_from(function) else { return false };
    matches!(
        f,
        VERSION | CPU_OFF | CPU_ON_32 | CPU_ON_64 | AFFINITY_INFO_32 | AFFINITY_INFO_64
            | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET | FEATURES
    )
}

/// SMC32 calls only carry 32-bit arguments (DEN0028 2.5).
fn arg(function: u32, value: u64) -> u64 {
    if function & 0x4000_0000 == 0 {
        value & 0xFFFF_FFFF
    } else {
        value
    }
}

/// The virtual vCPU index named by a target MPIDR: vCPU `i` has affinity `Aff0 = i`
/// (and Aff1 = i / 256 for partitions beyond 256 vCPUs). Non-affinity bits are ignored.
pub const fn vcpu_of(mpidr: u64) -> u64 {
    (mpidr & 0xff) | ((mpidr >> 8) & 0xff) << 8 | ((mpidr >> 16) & 0xff) << 16 | ((mpidr >> 32) & 0xff) << 24
}

/// The virtual MPIDR_EL1 of vCPU `index` (bit 31 is RES1).
pub const fn virtual_mpidr(index: usize) -> u64 {
    (1 << 31) | (index as u64 & 0xff) | ((index as u64 >> 8) & 0xff) << 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_answer_at_once() {
        assert_eq!(decode([VERSION as u64, 0, 0, 0]), Call::Answer(0x1_0000));
        assert_eq!(decode([FEATURES as u64, CPU_ON_64 as u64, 0, 0]), Call::Answer(0));
        assert_eq!(decode([FEATURES as u64, 0xC400_0005, 0, 0]), Call::Answer(-1));
        assert_eq!(decode([0xdead_beef, 0, 0, 0]), Call::Answer(-1));
        assert_eq!(decode([0x1_8400_0000, 0, 0, 0]), Call::Answer(-1), "upper bits set");
    }

    #[test]
    fn cpu_on_targets_virtual_affinity() {
        let call = decode([CPU_ON_64 as u64, 0x8000_0001, 0x5000_1000, 42]);
        let want = PowerRequest::CpuOn { target: 1, entry: GuestPhysAddr::new(0x5000_1000), context: 42 };
        assert_eq!(call, Call::Power(want));
        // SMC32 truncates arguments.
        let call = decode([CPU_ON_32 as u64, 0x1_0000_0002, 0x1_5000_0000, 0]);
        let want = PowerRequest::CpuOn { target: 2, entry: GuestPhysAddr::new(0x5000_0000), context: 0 };
        assert_eq!(call, Call::Power(want));
        // Aff1 set names a vCPU beyond 255, which core refuses for small partitions.
        assert!(matches!(decode([CPU_ON_64 as u64, 0x100, 0, 0]), Call::Power(PowerRequest::CpuOn { target: 0x100, .. })));
    }

    #[test]
    fn system_calls_and_affinity_levels() {
        assert_eq!(decode([SYSTEM_OFF as u64, 0, 0, 0]), Call::Power(PowerRequest::SystemOff));
        assert_eq!(decode([SYSTEM_RESET as u64, 0, 0, 0]), Call::Power(PowerRequest::SystemReset));
        assert_eq!(decode([AFFINITY_INFO_64 as u64, 1, 1, 0]), Call::Answer(-2));
        assert!(is_firmware_call(0x8400_0000) && is_firmware_call(0xC400_0003));
        assert!(!is_firmware_call(0x8600_0001) && !is_firmware_call(0x1_8400_0000));
    }

    #[test]
    fn virtual_mpidrs_round_trip() {
        for i in [0usize, 1, 3, 255, 300] {
            assert_eq!(vcpu_of(virtual_mpidr(i)), i as u64);
        }
    }
}

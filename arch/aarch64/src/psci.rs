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
        FEATURES => Call::Answer(if supported(arg(function, x[1])) { 0 } else { NOT_SUPPORTED }),
        CPU_OFF => Call::Power(PowerRequest::CpuOff),
        CPU_ON_32 | CPU_ON_64 => {
            let entry = GuestPhysAddr::new(arg(function, x[2]));
            let context = arg(function, x[3]);
            Call::Power(PowerRequest::CpuOn { target: vcpu_of(arg(function, x[1])), entry, context })
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 if arg(function, x[2]) == 0 => {
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

    /// Random firmware calls: decoding is total, SMC32 calls ignore the upper halves of
    /// their arguments, and any power request, handed to core's dispatch, changes at most
    /// the one vCPU of the calling partition it names.
    mod fuzz {
        use bulkhead_core::config::RestartPolicy;
        use bulkhead_core::partition::{dispatch, Action, PartitionCtl, VcpuPower};
        use bulkhead_core::vcpu::VmExit;
        use proptest::prelude::*;

        use super::*;

        const IDS: [u32; 11] = [
            VERSION, CPU_OFF, CPU_ON_32, CPU_ON_64, AFFINITY_INFO_32, AFFINITY_INFO_64, MIGRATE_INFO_TYPE, SYSTEM_OFF,
            SYSTEM_RESET, FEATURES, SMCCC_VERSION,
        ];
        /// MPIDR bits that are no affinity field: MT, U, RES1 bit 31, RES0 above Aff3.
        const NOT_AFFINITY: u64 = 0xffff_ff00_ff00_0000;

        /// x0: mostly a decoded id (sometimes with upper bits set), else anything.
        fn function() -> impl Strategy<Value = u64> {
            let id = || prop::sample::select(&IDS[..]).prop_map(u64::from);
            prop_oneof![
                6 => id(),
                1 => (id(), 1u64..1 << 32).prop_map(|(id, high)| high << 32 | id),
                1 => (0x8400_0000u64..0x8400_0020, any::<bool>()).prop_map(|(f, smc64)| f | u64::from(smc64) << 30),
                2 => any::<u64>(),
            ]
        }

        /// x1..x3: small numbers, virtual MPIDRs with stray non-affinity bits, anything.
        fn argument() -> impl Strategy<Value = u64> {
            prop_oneof![
                2 => 0u64..20,
                2 => (0usize..300, any::<u64>()).prop_map(|(i, junk)| virtual_mpidr(i) | junk & NOT_AFFINITY),
                2 => any::<u64>(),
            ]
        }

        fn partition(id: usize, name: &str, vcpus: usize) -> PartitionCtl {
            let p = PartitionCtl::new(id, name, vcpus, RestartPolicy::Halt);
            p.boot(GuestPhysAddr::new(0x5000_0000), 0).unwrap();
            p
        }

        fn powers(p: &PartitionCtl) -> Vec<Option<VcpuPower>> {
            (0..p.vcpu_count()).map(|i| p.power(i)).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
                ..ProptestConfig::with_cases(1024)
            })]

            #[test]
            fn firmware_calls_decode_and_stay_in_the_partition(
                x in (function(), prop_oneof![function(), argument(), argument()], argument(), argument()),
                junk in [any::<u32>(), any::<u32>(), any::<u32>()],
                vcpus in 1usize..=8,
                caller in 0usize..10,
            ) {
                let x = [x.0, x.1, x.2, x.3];
                let call = decode(x);
                if x[0] >> 32 == 0 && x[0] & 0x4000_0000 == 0 {
                    // SMC32: only the W registers count (DEN0028 2.5).
                    let w = |i: usize| x[i] & 0xffff_ffff;
                    let j = |i: usize| w(i) | u64::from(junk[i - 1]) << 32;
                    prop_assert_eq!(decode([x[0], w(1), w(2), w(3)]), decode([x[0], j(1), j(2), j(3)]));
                }
                if let Call::Power(PowerRequest::CpuOn { target, entry, context }) = call {
                    let w = |v| arg(x[0] as u32, v);
                    prop_assert_eq!((target, entry.as_u64(), context), (vcpu_of(w(x[1])), w(x[2]), w(x[3])));
                }
                let Call::Power(req) = call else { return Ok(()) };
                let (a, b) = (partition(0, "a", vcpus), partition(1, "b", 4));
                let (a_before, b_before) = (powers(&a), powers(&b));
                let action = dispatch(&a, caller, &VmExit::Power(req));
                prop_assert_eq!(powers(&b), b_before, "the neighbour's vCPUs changed");
                let started = match (req, action) {
                    (PowerRequest::CpuOn { target, entry, context }, Action::Started(i, _)) => {
                        prop_assert_eq!(Some(i), usize::try_from(target).ok().filter(|&t| t < vcpus));
                        prop_assert_eq!(a.power(i), Some(VcpuPower::Pending { entry, context }));
                        Some(i)
                    }
                    (PowerRequest::CpuOn { target, .. }, action) if target >= vcpus as u64 => {
                        prop_assert_eq!(action, Action::Reply([-2i64 as u64, 0, 0]), "vCPU {} of {}", target, vcpus);
                        None
                    }
                    _ => None,
                };
                for (i, was) in a_before.iter().enumerate().filter(|&(i, _)| Some(i) != started) {
                    prop_assert_eq!(a.power(i), *was, "vCPU {} changed", i);
                }
            }
        }
    }
}

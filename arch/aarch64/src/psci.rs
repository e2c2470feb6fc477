//! PSCI as the partition sees it: decoding SMC/HVC function ids (Arm DEN0022 5.1).
//!
//! A partition sees PSCI 1.1, the version QEMU's `virt` firmware and KVM report, with
//! every function 1.1 makes mandatory (`PSCI_VERSION`, `CPU_SUSPEND`, `CPU_OFF`, `CPU_ON`,
//! `AFFINITY_INFO`, `SYSTEM_OFF`, `SYSTEM_RESET`, `PSCI_FEATURES`) plus
//! `MIGRATE_INFO_TYPE` and `SYSTEM_RESET2`; and SMCCC 1.1 with `SMCCC_VERSION` and
//! `SMCCC_ARCH_FEATURES` (Arm DEN0028). doc/partition-view.md has the choices.
//!
//! Calls that need a decision about the partition become a core
//! [`PowerRequest`]; queries answer at once. Anything else is NOT_SUPPORTED.

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::vcpu::PowerRequest;

/// PSCI_VERSION.
pub const VERSION: u32 = 0x8400_0000;
/// CPU_SUSPEND, SMC32.
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// CPU_SUSPEND, SMC64.
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
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
/// SYSTEM_RESET2, SMC32 (PSCI 1.1).
pub const SYSTEM_RESET2_32: u32 = 0x8400_0012;
/// SYSTEM_RESET2, SMC64 (PSCI 1.1).
pub const SYSTEM_RESET2_64: u32 = 0xC400_0012;
/// SMCCC_VERSION (Arm DEN0028 7.2).
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES (Arm DEN0028 7.3), mandatory from SMCCC 1.1.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;

/// The version Bulkhead's emulation reports: PSCI 1.1.
pub const EMULATED_VERSION: i64 = 0x1_0001;
/// The SMC Calling Convention version reported: 1.1.
pub const SMCCC_EMULATED_VERSION: i64 = 0x1_0001;
const NOT_SUPPORTED: i64 = -1;
const INVALID_PARAMETERS: i64 = -2;
/// MIGRATE_INFO_TYPE: no Trusted OS, nothing to migrate.
const NO_TRUSTED_OS: i64 = 2;
/// CPU_SUSPEND `power_state` bits that are RES0 in the original format (DEN0022 5.4.2):
/// all but StateID [15:0], StateType [16] and PowerLevel [25:24].
const POWER_STATE_RES0: u64 = 0xfcfe_0000;
/// SYSTEM_RESET2 `reset_type` bit 31: a vendor-specific reset (none is defined here).
const RESET_TYPE_VENDOR: u64 = 1 << 31;
/// SYSTEM_RESET2 architectural reset type 0: SYSTEM_WARM_RESET.
const SYSTEM_WARM_RESET: u64 = 0;

/// What a firmware call turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Answer at once with this value in x0.
    Answer(i64),
    /// A decision core takes.
    Power(PowerRequest),
    /// CPU_SUSPEND of a valid power state: wait as WFI would, then answer SUCCESS. Every
    /// state is a standby (a power-down request may return early: DEN0022 5.4.2), as
    /// under KVM.
    Standby,
}

/// Whether `function` is a PSCI or SMCCC architecture-service id Bulkhead decodes.
#[inline]
pub const fn is_firmware_call(function: u64) -> bool {
    let f = function as u32;
    function >> 32 == 0 && (f & 0xBF00_0000 == 0x8400_0000 || f == SMCCC_VERSION || f == SMCCC_ARCH_FEATURES)
}

/// Decodes a firmware call whose registers are `x[0..4]`.
#[inline]
pub fn decode(x: [u64; 4]) -> Call {
    let function = if x[0] >> 32 == 0 { x[0] as u32 } else { 0 };
    // The queries a guest makes often are answered inline (the fast exit path inlines
    // this); everything else is decoded out of line.
    match function {
        VERSION => Call::Answer(EMULATED_VERSION),
        SMCCC_VERSION => Call::Answer(SMCCC_EMULATED_VERSION),
        FEATURES => Call::Answer(features(arg(function, x[1]))),
        _ => decode_other(function, x),
    }
}

/// [`decode`] of everything but the frequent queries.
#[inline(never)]
fn decode_other(function: u32, x: [u64; 4]) -> Call {
    match function {
        SMCCC_ARCH_FEATURES => Call::Answer(arch_features(arg(function, x[1]))),
        MIGRATE_INFO_TYPE => Call::Answer(NO_TRUSTED_OS),
        CPU_SUSPEND_32 | CPU_SUSPEND_64 if arg(function, x[1]) & POWER_STATE_RES0 != 0 => {
            Call::Answer(INVALID_PARAMETERS)
        }
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => Call::Standby,
        CPU_OFF => Call::Power(PowerRequest::CpuOff),
        CPU_ON_32 | CPU_ON_64 => {
            let entry = GuestPhysAddr::new(arg(function, x[2]));
            let context = arg(function, x[3]);
            Call::Power(PowerRequest::CpuOn { target: vcpu_of(arg(function, x[1])), entry, context })
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 if arg(function, x[2]) == 0 => {
            Call::Power(PowerRequest::AffinityInfo { target: vcpu_of(arg(function, x[1])) })
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => Call::Answer(INVALID_PARAMETERS),
        SYSTEM_OFF => Call::Power(PowerRequest::SystemOff),
        SYSTEM_RESET => Call::Power(PowerRequest::SystemReset),
        SYSTEM_RESET2_32 | SYSTEM_RESET2_64 => match x[1] & 0xFFFF_FFFF {
            // A warm reset restarts the partition like SYSTEM_RESET: from pristine images,
            // RAM cleared (the architecture lets a warm reset keep state; this keeps none).
            SYSTEM_WARM_RESET => Call::Power(PowerRequest::SystemReset),
            t if t & RESET_TYPE_VENDOR != 0 => Call::Answer(NOT_SUPPORTED),
            _ => Call::Answer(INVALID_PARAMETERS),
        },
        _ => Call::Answer(NOT_SUPPORTED),
    }
}

/// PSCI_FEATURES: 0 for every function implemented (for CPU_SUSPEND: the original
/// `power_state` format, platform-coordinated mode only), NOT_SUPPORTED otherwise.
#[inline(never)]
fn features(function: u64) -> i64 {
    let Ok(f) = u32::try_from(function) else { return NOT_SUPPORTED };
    let implemented = matches!(
        f,
        VERSION
            | CPU_SUSPEND_32
            | CPU_SUSPEND_64
            | CPU_OFF
            | CPU_ON_32
            | CPU_ON_64
            | AFFINITY_INFO_32
            | AFFINITY_INFO_64
            | MIGRATE_INFO_TYPE
            | SYSTEM_OFF
            | SYSTEM_RESET
            | FEATURES
            | SYSTEM_RESET2_32
            | SYSTEM_RESET2_64
            | SMCCC_VERSION
    );
    if implemented {
        0
    } else {
        NOT_SUPPORTED
    }
}

/// SMCCC_ARCH_FEATURES: the architecture-service calls implemented are the two discovery
/// calls themselves; no CPU-erratum workaround call (`SMCCC_ARCH_WORKAROUND_*`) is
/// offered, so those are NOT_SUPPORTED as on firmware without them.
fn arch_features(function: u64) -> i64 {
    match u32::try_from(function) {
        Ok(SMCCC_VERSION | SMCCC_ARCH_FEATURES) => 0,
        _ => NOT_SUPPORTED,
    }
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
        assert_eq!(decode([VERSION as u64, 0, 0, 0]), Call::Answer(0x1_0001), "PSCI 1.1");
        assert_eq!(decode([SMCCC_VERSION as u64, 0, 0, 0]), Call::Answer(0x1_0001), "SMCCC 1.1");
        assert_eq!(decode([FEATURES as u64, CPU_ON_64 as u64, 0, 0]), Call::Answer(0));
        assert_eq!(decode([FEATURES as u64, 0xC400_0005, 0, 0]), Call::Answer(-1), "MIGRATE");
        assert_eq!(decode([0xdead_beef, 0, 0, 0]), Call::Answer(-1));
        assert_eq!(decode([0x1_8400_0000, 0, 0, 0]), Call::Answer(-1), "upper bits set");
    }

    /// PSCI_FEATURES answers 0 for exactly the functions that do something, and every
    /// function it answers 0 for is decoded into something other than NOT_SUPPORTED.
    #[test]
    fn features_match_what_is_implemented() {
        let implemented = [
            VERSION, CPU_SUSPEND_32, CPU_SUSPEND_64, CPU_OFF, CPU_ON_32, CPU_ON_64, AFFINITY_INFO_32,
            AFFINITY_INFO_64, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, FEATURES, SYSTEM_RESET2_32,
            SYSTEM_RESET2_64, SMCCC_VERSION,
        ];
        let psci = (0x8400_0000u32..0x8400_0020).chain(0xC400_0000..0xC400_0020);
        for f in psci.chain([SMCCC_VERSION, SMCCC_ARCH_FEATURES]) {
            let answer = decode([u64::from(FEATURES), u64::from(f), 0, 0]);
            let want = if implemented.contains(&f) { 0 } else { -1 };
            assert_eq!(answer, Call::Answer(want), "PSCI_FEATURES({f:#x})");
            if want == 0 && f != SMCCC_VERSION {
                let x1 = if f == FEATURES { u64::from(VERSION) } else { 0 };
                assert_ne!(decode([u64::from(f), x1, 0, 0]), Call::Answer(-1), "{f:#x} is advertised");
            }
        }
        // The optional ones 1.1 leaves out: CPU_FREEZE, CPU_DEFAULT_SUSPEND, NODE_HW_STATE,
        // SYSTEM_SUSPEND, PSCI_SET_SUSPEND_MODE, PSCI_STAT_*, MEM_PROTECT*.
        let absent = [0x8400_000B, 0xC400_000C, 0xC400_000D, 0xC400_000E, 0x8400_000F, 0xC400_0010, 0xC400_0011];
        for f in absent.into_iter().chain([0x8400_0013, 0xC400_0014]) {
            assert_eq!(decode([f, 0, 0, 0]), Call::Answer(-1), "{f:#x}");
        }
        assert_eq!(decode([u64::from(SMCCC_ARCH_FEATURES), u64::from(SMCCC_VERSION), 0, 0]), Call::Answer(0));
        assert_eq!(decode([u64::from(SMCCC_ARCH_FEATURES), 0x8000_8000, 0, 0]), Call::Answer(-1), "WORKAROUND_1");
        assert!(is_firmware_call(u64::from(SMCCC_ARCH_FEATURES)));
    }

    #[test]
    fn cpu_suspend_is_a_standby_for_valid_power_states() {
        assert_eq!(decode([u64::from(CPU_SUSPEND_64), 0, 0x5000_0000, 0]), Call::Standby);
        // A power-down state of level 1: also a standby (it may return, DEN0022 5.4.2).
        assert_eq!(decode([u64::from(CPU_SUSPEND_32), 0x0101_0000, 0, 0]), Call::Standby);
        assert_eq!(decode([u64::from(CPU_SUSPEND_64), 1 << 20, 0, 0]), Call::Answer(-2), "RES0 bit");
        // SMC32: the upper half of x1 is not part of the argument.
        assert_eq!(decode([u64::from(CPU_SUSPEND_32), 0xffff_ffff_0000_0000, 0, 0]), Call::Standby);
    }

    #[test]
    fn system_reset2_resets_warm_and_refuses_other_types() {
        for f in [SYSTEM_RESET2_32, SYSTEM_RESET2_64] {
            assert_eq!(decode([u64::from(f), 0, 0xc0ffee, 0]), Call::Power(PowerRequest::SystemReset));
            assert_eq!(decode([u64::from(f), 1, 0, 0]), Call::Answer(-2), "undefined architectural type");
            assert_eq!(decode([u64::from(f), 0x8000_0000, 0, 0]), Call::Answer(-1), "vendor type");
        }
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

        const IDS: [u32; 16] = [
            VERSION, CPU_SUSPEND_32, CPU_SUSPEND_64, CPU_OFF, CPU_ON_32, CPU_ON_64, AFFINITY_INFO_32,
            AFFINITY_INFO_64, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, FEATURES, SYSTEM_RESET2_32,
            SYSTEM_RESET2_64, SMCCC_VERSION, SMCCC_ARCH_FEATURES,
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

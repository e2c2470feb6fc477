//! SMC Calling Convention (Arm DEN0028) calls: PSCI through the DT's conduit, Bulkhead
//! hypercalls through HVC.

use core::arch::asm;

/// PSCI_VERSION (PSCI 1.1, Arm DEN0022 5.1).
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_ON, SMC64.
pub const PSCI_CPU_ON: u32 = 0xC400_0003;
/// AFFINITY_INFO, SMC64.
pub const PSCI_AFFINITY_INFO: u32 = 0xC400_0004;
/// SYSTEM_OFF.
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;

/// The instruction that reaches the firmware or hypervisor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

impl Conduit {
    /// Name as spelled in the device tree's `method` property.
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        }
    }
}

/// Issues function `fid` with arguments x1..x6 and returns x0..x3.
pub fn call(conduit: Conduit, fid: u32, args: [u64; 6]) -> [u64; 4] {
    let mut r = [u64::from(fid), args[0], args[1], args[2]];
    // SAFETY: an SMCCC call: the callee may write x0–x17 (all declared clobbered) and
    // touches no guest memory. A trapped or UNDEFINED call is the caller's business
    // (see exceptions::expect_fault), which returns here with the registers as they were.
    unsafe {
        match conduit {
            Conduit::Hvc => asm!(
                "hvc #0",
                inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
                inout("x4") args[3] => _, inout("x5") args[4] => _, inout("x6") args[5] => _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _, options(nostack)
            ),
            Conduit::Smc => asm!(
                "smc #0",
                inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
                inout("x4") args[3] => _, inout("x5") args[4] => _, inout("x6") args[5] => _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _, options(nostack)
            ),
        }
    }
    r
}

/// A call's x0 read as a signed SMCCC status (SMC32 results live in w0).
pub fn status(x0: u64, fid: u32) -> i64 {
    if fid & (1 << 30) == 0 {
        i64::from(x0 as u32 as i32)
    } else {
        x0 as i64
    }
}

/// Calls PSCI function `fid` with up to three arguments; returns the signed status.
pub fn psci(conduit: Conduit, fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    status(call(conduit, fid, [a1, a2, a3, 0, 0, 0])[0], fid)
}

/// Issues a Bulkhead hypercall (always `HVC #0`, see `bulkhead_core::hypercall`).
pub fn hypercall(fid: u32, args: [u64; 6]) -> [u64; 4] {
    call(Conduit::Hvc, fid, args)
}

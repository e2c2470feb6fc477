//! `test=fpu`: FP/SIMD registers keep their values across exits to the hypervisor.
//!
//! The hypervisor never saves a guest's FP/SIMD state (it has one vCPU per CPU and
//! never uses those registers itself); this checks that promise across hypercall,
//! trapped-SMC and timer-interrupt exits.

use core::arch::asm;

use bulkhead_core::hypercall::YIELD;

use crate::say;

/// Hypercalls made while the registers hold the pattern.
const CALLS: u64 = 20_000;
/// Timer interrupts waited for (each one an exit) while they hold it.
const IRQS: u64 = 5;

/// Fills v0-v31, exits many times, and compares.
pub fn run() {
    let mut before = [0u64; 64];
    for (i, w) in before.iter_mut().enumerate() {
        *w = 0x0123_4567_89ab_cdef_u64.rotate_left(i as u32) ^ (i as u64 * 0x1111);
    }
    let mut after = [0u64; 64];
    // SAFETY: loads and stores only the two local buffers; clobbers v0-v31 and x0-x3,
    // x9, x10, which are declared; HVC and WFI return here.
    unsafe {
        asm!(
            "ldp q0, q1, [{src}, #0]", "ldp q2, q3, [{src}, #32]",
            "ldp q4, q5, [{src}, #64]", "ldp q6, q7, [{src}, #96]",
            "ldp q8, q9, [{src}, #128]", "ldp q10, q11, [{src}, #160]",
            "ldp q12, q13, [{src}, #192]", "ldp q14, q15, [{src}, #224]",
            "ldp q16, q17, [{src}, #256]", "ldp q18, q19, [{src}, #288]",
            "ldp q20, q21, [{src}, #320]", "ldp q22, q23, [{src}, #352]",
            "ldp q24, q25, [{src}, #384]", "ldp q26, q27, [{src}, #416]",
            "ldp q28, q29, [{src}, #448]", "ldp q30, q31, [{src}, #480]",
            "mov x9, {calls}",
            "2:",
            "mov x0, {yield_id}",
            "hvc #0",
            "mov x0, #0x84000000", // PSCI_VERSION through the trapped SMC conduit
            "smc #0",
            "subs x9, x9, #1",
            "b.ne 2b",
            "mov x10, {irqs}",
            "3:",
            "wfi",
            "subs x10, x10, #1",
            "b.ne 3b",
            "stp q0, q1, [{dst}, #0]", "stp q2, q3, [{dst}, #32]",
            "stp q4, q5, [{dst}, #64]", "stp q6, q7, [{dst}, #96]",
            "stp q8, q9, [{dst}, #128]", "stp q10, q11, [{dst}, #160]",
            "stp q12, q13, [{dst}, #192]", "stp q14, q15, [{dst}, #224]",
            "stp q16, q17, [{dst}, #256]", "stp q18, q19, [{dst}, #288]",
            "stp q20, q21, [{dst}, #320]", "stp q22, q23, [{dst}, #352]",
            "stp q24, q25, [{dst}, #384]", "stp q26, q27, [{dst}, #416]",
            "stp q28, q29, [{dst}, #448]", "stp q30, q31, [{dst}, #480]",
            src = in(reg) before.as_ptr(),
            dst = in(reg) after.as_mut_ptr(),
            calls = in(reg) CALLS,
            irqs = in(reg) IRQS,
            yield_id = in(reg) u64::from(YIELD),
            out("x0") _, out("x1") _, out("x2") _, out("x3") _, out("x9") _, out("x10") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _,
            out("v6") _, out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _,
            out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _,
            out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        );
    }
    match (0..64).find(|&i| before[i] != after[i]) {
        None => say!("PASS fpu preserved across {} exits", 2 * CALLS + IRQS),
        Some(i) => say!("FAIL fpu v{} changed: {:#x} became {:#x}", i / 2, before[i], after[i]),
    }
}

//! `test=abort probe=<hex> op=read|write|fetch count=<k> after=<n>`: after `n`
//! heartbeats, `k` accesses to addresses nothing answers (`probe`, `probe + 0x10`, …),
//! each expected to end in the synchronous external abort hardware gives such an access
//! (a partition with `bad-access = "abort"`): the guest handles it and keeps beating.

use core::arch::asm;

use crate::args::Args;
use crate::exceptions::{self, esr_class, EC_DABT_CURRENT, EC_IABT_CURRENT};
use crate::{say, timer};

/// Fault status code of a synchronous external abort, not on a table walk.
const FSC_SYNC_EXTERNAL: u64 = 0x10;
/// `ESR_ELx.WnR` (data aborts): the access was a write.
const ESR_WNR: u64 = 1 << 6;
/// Distance between two probed addresses (each abort is its own event).
const STRIDE: u64 = 0x10;

/// Runs the probes; PASS or FAIL per access.
pub fn run(args: &Args) {
    let Some(base) = args.probe else {
        say!("FAIL abort needs probe=<hex address>");
        return;
    };
    let op = match (args.probe_fetch, args.probe_write) {
        (true, _) => "fetch",
        (false, true) => "write",
        (false, false) => "read",
    };
    timer::wait_beats(args.after);
    for i in 0..args.count {
        let addr = base + i * STRIDE;
        say!("probing {:#x} {}", addr, op);
        match exceptions::expect_fault(|| access(addr, op)) {
            Ok(()) => say!("FAIL abort {} {:#x} survived", op, addr),
            Err(esr) => check(op, addr, esr),
        }
    }
}

/// The one access: a 32-bit load or store, or a branch-and-link to `addr`.
fn access(addr: u64, op: &str) {
    let ptr = addr as usize;
    // SAFETY: deliberately touches an address the partition does not own: the abort
    // that follows is the point (exceptions::expect_fault skips the access, or returns
    // from the branch to its caller).
    unsafe {
        match op {
            "write" => crate::mmio::write32(ptr, 0xdead_beef),
            "read" => _ = crate::mmio::read32(ptr),
            _ => asm!("blr {t}", t = in(reg) addr, clobber_abi("C")),
        }
    }
}

/// The abort must be the architected one: instruction or data abort at EL1, synchronous
/// external abort, FAR = the address, WnR = whether it was a store.
fn check(op: &str, addr: u64, esr: u64) {
    let far = exceptions::caught_far();
    let (ec, fsc) = (esr_class(esr), esr & 0x3f);
    let want_ec = if op == "fetch" {
        EC_IABT_CURRENT
    } else {
        EC_DABT_CURRENT
    };
    let wnr_ok = op == "fetch" || (esr & ESR_WNR != 0) == (op == "write");
    if ec == want_ec && fsc == FSC_SYNC_EXTERNAL && far == addr && wnr_ok {
        say!(
            "PASS abort {} {:#x} ec={:#x} fsc={:#x} far={:#x}",
            op,
            addr,
            ec,
            fsc,
            far
        );
    } else {
        say!(
            "FAIL abort {} {:#x} esr={:#x} far={:#x}",
            op,
            addr,
            esr,
            far
        );
    }
}

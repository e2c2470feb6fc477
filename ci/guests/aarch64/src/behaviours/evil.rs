//! `test=evil`: instructions and calls a partition must be able to make without killing
//! itself or the hypervisor.

use core::arch::asm;

use bulkhead_core::hypercall::{pack_bytes, CONSOLE_WRITE, NOT_SUPPORTED};

use crate::exceptions::{esr_class, expect_fault, EC_UNKNOWN};
use crate::say;
use crate::smccc::{self, Conduit};

/// Function ids no one implements: plain junk, SMC64 SiP service, our own range + junk.
const JUNK_FIDS: [u32; 3] = [0xdead_beef, 0xC500_0000, 0x8600_1234];
/// Exactly 40 bytes (five registers) so a truncating console prints one whole line.
const OVERSIZED_LINE: &[u8; 40] = b"evil console_write len=1000 -> 40 bytes\n";
/// The length CONSOLE_WRITE is told, far above `CONSOLE_WRITE_MAX`.
const OVERSIZED_LEN: u64 = 1000;

/// Runs every attempt, then reports that the guest survived.
pub fn run() {
    // SAFETY: EL2 registers are UNDEFINED at EL1; the vector skips the instruction.
    must_undef("msr hcr_el2", || unsafe {
        asm!("msr hcr_el2, xzr", options(nostack))
    });
    // SAFETY: as above.
    must_undef("msr vbar_el2", || unsafe {
        asm!("msr vbar_el2, xzr", options(nostack))
    });
    // SAFETY: DC ISW cleans and invalidates one set/way; with the MMU and caches off
    // there is no dirty data to lose.
    either("dc isw", || unsafe {
        asm!("dc isw, xzr", options(nostack))
    });
    for conduit in [Conduit::Smc, Conduit::Hvc] {
        for fid in JUNK_FIDS {
            junk_call(conduit, fid);
        }
    }
    oversized_console_write();
    say!("PASS evil survived");
}

/// The attempt must raise an UNDEFINED-instruction exception in the guest.
fn must_undef(what: &str, attempt: impl FnOnce()) {
    match expect_fault(attempt) {
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {}", what),
        Err(esr) => say!("caught ec={:#x} {}", esr_class(esr), what),
        Ok(()) => say!("FAIL evil {} executed at EL1", what),
    }
}

/// The attempt may execute, be emulated, or raise an exception.
fn either(what: &str, attempt: impl FnOnce()) {
    match expect_fault(attempt) {
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {}", what),
        Err(esr) => say!("caught ec={:#x} {}", esr_class(esr), what),
        Ok(()) => say!("{} returned", what),
    }
}

/// A junk function id must come back NOT_SUPPORTED (or UNDEFINED without a handler).
fn junk_call(conduit: Conduit, fid: u32) {
    let name = conduit.name();
    match expect_fault(|| smccc::call(conduit, fid, [0; 6])[0]) {
        Ok(x0) if smccc::status(x0, fid) == NOT_SUPPORTED => {
            say!("PASS evil {} {:#x} not supported", name, fid)
        }
        Ok(x0) => say!(
            "FAIL evil {} {:#x} returned {}",
            name,
            fid,
            smccc::status(x0, fid)
        ),
        Err(esr) if esr_class(esr) == EC_UNKNOWN => say!("caught undef {} {:#x}", name, fid),
        Err(esr) => say!("caught ec={:#x} {} {:#x}", esr_class(esr), name, fid),
    }
}

/// CONSOLE_WRITE claiming 1000 bytes: the hypervisor truncates or refuses.
fn oversized_console_write() {
    let mut regs = [0u64; 5];
    pack_bytes(OVERSIZED_LINE, &mut regs);
    let args = [OVERSIZED_LEN, regs[0], regs[1], regs[2], regs[3], regs[4]];
    match expect_fault(|| smccc::hypercall(CONSOLE_WRITE, args)[0]) {
        Ok(x0) => say!(
            "evil console_write len={} returned {}",
            OVERSIZED_LEN,
            smccc::status(x0, CONSOLE_WRITE)
        ),
        Err(esr) => say!(
            "caught ec={:#x} console_write len={}",
            esr_class(esr),
            OVERSIZED_LEN
        ),
    }
}

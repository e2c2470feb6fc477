//! `test=odd-mmio kind=<k>`: one load from an emulated device that the hypervisor
//! cannot decode from its syndrome (ESR_EL2.ISV = 0: Arm ARM D17.2.37 gives a syndrome
//! only for single-register loads and stores without writeback, and not for exclusives).
//! The expected end is the partition stopped with a fault report, the hypervisor and
//! the neighbours unharmed; returning from the load prints `FAIL odd-mmio … survived`.
//!
//! | `kind=` | access |
//! |---|---|
//! | `pair` | `ldp w, w` of `GICD_CTLR`/`GICD_TYPER` |
//! | `exclusive` | `ldxr w` of `GICD_CTLR` |
//! | `uart-pair` | `ldp w, w` of the console PL011 (`UARTDR`/`UARTRSR`) |
//! | `unaligned` | `ldr w` at the console PL011 + 1: on hardware an alignment fault in the guest comes first (reported, the load skipped); QEMU 7.2 does not check alignment with the MMU off, so it reaches the hypervisor with a valid syndrome |
//! | `plain` | `ldr w` of `GICD_TYPER`: the control, which the hypervisor does emulate |

use core::arch::asm;

use crate::args::Args;
use crate::exceptions::{esr_class, expect_fault};
use crate::platform::Platform;
use crate::{say, timer};

/// `GICD_TYPER`.
const GICD_TYPER: usize = 0x4;

/// Makes the access after `after` heartbeats.
pub fn run(plat: &Platform, args: &Args) {
    timer::wait_beats(args.after);
    let kind = args.kind;
    let value = match kind {
        "pair" => {
            say!("odd-mmio pair ldp {:#x}", plat.gicd);
            // SAFETY: the partition's emulated GICD (CTLR, TYPER); the hypervisor is
            // expected to stop the partition here.
            unsafe { load_pair(plat.gicd) }
        }
        "exclusive" => {
            say!("odd-mmio exclusive ldxr {:#x}", plat.gicd);
            // SAFETY: as above (GICD_CTLR).
            unsafe { load_exclusive(plat.gicd) }
        }
        "uart-pair" => {
            say!("odd-mmio uart-pair ldp {:#x}", plat.uart);
            // SAFETY: the console UART's DR and RSR; the hypervisor is expected to stop
            // the partition here.
            unsafe { load_pair(plat.uart) }
        }
        "unaligned" => {
            let addr = plat.uart + 1;
            say!("odd-mmio unaligned ldr {:#x}", addr);
            // SAFETY: one byte into the console UART; the fault, in the guest or the
            // hypervisor, is the point.
            match expect_fault(|| unsafe { crate::mmio::read32(addr) }) {
                Ok(v) => v,
                Err(esr) => {
                    say!(
                        "odd-mmio unaligned faulted in the guest ec={:#x}",
                        esr_class(esr)
                    );
                    return;
                }
            }
        }
        "plain" => {
            say!("odd-mmio plain ldr {:#x}", plat.gicd + GICD_TYPER);
            // SAFETY: GICD_TYPER, a register the hypervisor emulates.
            unsafe { crate::mmio::read32(plat.gicd + GICD_TYPER) }
        }
        other => {
            say!("FAIL odd-mmio unknown kind {}", other);
            return;
        }
    };
    say!("FAIL odd-mmio {} survived: {:#x}", kind, value);
}

/// # Safety
/// `addr` must be readable device registers (two words).
unsafe fn load_pair(addr: usize) -> u32 {
    let (a, b): (u32, u32);
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("ldp {0:w}, {1:w}, [{2}]", out(reg) a, out(reg) b, in(reg) addr, options(nostack, readonly))
    };
    a ^ b
}

/// # Safety
/// `addr` must be a readable device register.
unsafe fn load_exclusive(addr: usize) -> u32 {
    let v: u32;
    // SAFETY: forwarded from the caller; CLREX drops the monitor the load set.
    unsafe { asm!("ldxr {0:w}, [{1}]", "clrex", out(reg) v, in(reg) addr, options(nostack)) };
    v
}

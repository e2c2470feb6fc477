//! The behaviours `test=<name>` selects; each ends in the heartbeat idle loop.

mod abort;
mod evil;
mod fpu;
mod gicd;
mod level;
mod odd_mmio;
mod psci;
mod race;
mod sgi;
pub mod smp;
mod storm;

use bulkhead_core::hypercall::{self, PARTITION_INFO, YIELD};

use crate::args::Args;
use crate::platform::{Once, Platform};
use crate::smccc::{self, Conduit, PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_VERSION};
use crate::{say, timer};

/// Calls between two `spam <k>` lines.
const SPAM_BATCH: u64 = 100_000;

/// The bootargs, published by vCPU 0 for the secondaries.
static ARGS: Once<Args> = Once::new();

/// Runs the behaviour named by `args.test` on vCPU 0; never returns.
pub fn run(plat: &Platform, args: &Args) -> ! {
    ARGS.set(*args);
    match args.test {
        "heartbeat" => {}
        "smp" => smp::run(plat),
        "probe" => probe(args),
        "reset" => psci_after(plat, args.reset_after, "system_reset", PSCI_SYSTEM_RESET),
        "poweroff" => psci_after(plat, args.off_after, "system_off", PSCI_SYSTEM_OFF),
        "spam" => spam(plat),
        "evil" => evil::run(),
        "fpu" => fpu::run(),
        "hcall" => partition_info(plat),
        "gicd-foreign" => gicd::run(plat, args),
        "sgi-foreign" => sgi::run(plat, args),
        "odd-mmio" => odd_mmio::run(plat, args),
        "timer-storm" => storm::run(args),
        "psci" => psci::run(plat, args),
        "psci-race" => race::run(plat, args.rounds),
        "level-irq" => level::run(plat, args.events),
        "abort" => abort::run(args),
        other => say!("FAIL unknown test {}", other),
    }
    idle()
}

/// What secondary vCPU `cpu` does once it is up, before it idles.
pub fn secondary(plat: &Platform, cpu: usize) {
    if ARGS.get().is_some_and(|a| a.test == "psci-race") {
        race::secondary(plat, cpu);
    }
}

/// Sleeps forever; interrupts (the heartbeat) still run.
pub fn idle() -> ! {
    loop {
        timer::wfi();
    }
}

/// After `after` heartbeats, one 32-bit access to `probe=`; surviving it is a failure.
fn probe(args: &Args) {
    let Some(addr) = args.probe else {
        say!("FAIL probe needs probe=<hex address>");
        return;
    };
    timer::wait_beats(args.after);
    let op = if args.probe_write { "write" } else { "read" };
    say!("probing {:#x} {}", addr, op);
    let ptr = addr as usize;
    // SAFETY: deliberately touches an address the partition may not own: the point of
    // the test is that the hypervisor stops us (or QEMU raises an external abort).
    unsafe {
        if args.probe_write {
            crate::mmio::write32(ptr, 0xdead_beef);
        } else {
            crate::mmio::read32(ptr);
        }
    }
    say!("FAIL probe survived");
}

/// After `after` heartbeats, calls a PSCI function that should not return.
fn psci_after(plat: &Platform, after: u64, what: &str, fid: u32) {
    timer::wait_beats(after);
    say!("calling {}", what);
    let r = smccc::psci(plat.psci, fid, 0, 0, 0);
    say!("FAIL {} returned {}", what, r);
}

/// Hypercalls (YIELD; PSCI_VERSION natively) as fast as possible, forever.
fn spam(plat: &Platform) -> ! {
    let (conduit, fid) = if plat.native {
        (plat.psci, PSCI_VERSION)
    } else {
        (Conduit::Hvc, YIELD)
    };
    let mut complained = false;
    let mut k = 0u64;
    loop {
        for _ in 0..SPAM_BATCH {
            let r = smccc::status(smccc::call(conduit, fid, [0; 6])[0], fid);
            if r < 0 && !complained {
                say!("FAIL spam call {:#x} returned {}", fid, r);
                complained = true;
            }
        }
        k += 1;
        say!("spam {}", k);
    }
}

/// Checks PARTITION_INFO against the device tree's `/chosen` properties.
fn partition_info(plat: &Platform) {
    if plat.native {
        say!("SKIP partition_info native");
        return;
    }
    let r = smccc::hypercall(PARTITION_INFO, [0; 6]);
    let status = smccc::status(r[0], PARTITION_INFO);
    if status < 0 {
        say!("FAIL partition_info returned {}", status);
        return;
    }
    let mut buf = [0u8; 16];
    let len = hypercall::unpack_bytes(&r[1..3], buf.len(), &mut buf);
    let name = core::str::from_utf8(&buf[..len])
        .unwrap_or("?")
        .trim_end_matches('\0');
    // The hypercall carries at most 16 bytes of the name.
    let expected = &plat.name.as_bytes()[..plat.name.len().min(buf.len())];
    if status as u64 == u64::from(plat.id) && name.as_bytes() == expected {
        say!("PASS partition_info id={} name={}", status, name);
    } else {
        say!(
            "FAIL partition_info id={} name={} dt id={} name={}",
            status,
            name,
            plat.id,
            plat.name
        );
    }
}

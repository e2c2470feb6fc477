//! The behaviours `test=<name>` selects; each but `spam` ends in the heartbeat idle loop.

pub mod com2;
mod evil;
mod fpu;
pub mod ipi;
pub mod smp;

use core::arch::asm;

use bulkhead_core::hypercall::YIELD;

use crate::args::Args;
use crate::platform::Platform;
use crate::{boot, console, cpu, hypercall, say, timer};

/// Calls between two `spam <k>` lines.
const SPAM_BATCH: u64 = 100_000;
/// The PC reset control port and the value that resets (doc/x86.md).
const RESET_PORT: u16 = 0xcf9;
const RESET_VALUE: u8 = 0x06;
/// PM1 control `SLP_EN` (ACPI 6.5, 4.8.4.2.1); SLP_TYP is bits 12:10.
const SLP_EN: u16 = 1 << 13;
/// SLP_TYP of S5 in a partition (doc/x86.md), used when the DSDT has no `\_S5`.
const S5_DEFAULT: u8 = 5;
/// How long a reset or power-off may take before the guest calls it a failure.
const GRACE_MS: u64 = 200;

/// Runs the behaviour named by `args.test` on vCPU 0; never returns.
pub fn run(plat: &'static Platform, args: &Args) -> ! {
    match args.test {
        "heartbeat" => {}
        "smp" => smp::run(plat),
        "probe" => probe(args),
        "ioprobe" => ioprobe(args),
        "reset" => reset(args),
        "poweroff" => poweroff(plat, args),
        "spam" => spam(plat),
        "hcall" => hcall(plat),
        "evil" => evil::run(plat),
        "ipi-foreign" => ipi::run(plat, args),
        "fpu" => fpu::run(plat),
        "backdoor" => backdoor(plat, args),
        "com2-irq" => com2::run(plat, args),
        "ioapic-listen" => com2::listen(args),
        other => say!("FAIL unknown test {}", other),
    }
    idle()
}

/// Sleeps forever; interrupts (the heartbeat) still run.
pub fn idle() -> ! {
    loop {
        cpu::sti_hlt();
    }
}

/// After `after` heartbeats, one 32-bit access to `probe=`; surviving it is a failure.
fn probe(args: &Args) {
    let Some(addr) = args.probe else {
        say!("FAIL probe needs probe=<hex address>");
        return;
    };
    timer::wait_beats(args.after);
    if let Err(why) = boot::map_high(addr) {
        say!("FAIL probe {:#x}: {}", addr, why);
        return;
    }
    let op = if args.write { "write" } else { "read" };
    say!("probing {:#x} {}", addr, op);
    console::flush();
    let ptr = addr as *mut u32;
    // SAFETY: deliberately touches an address the partition may not own: the point of
    // the test is that the hypervisor stops us. The page is mapped (boot tables or
    // map_high); a non-canonical address raises #GP, reported as an exception.
    unsafe {
        if args.write {
            ptr.write_volatile(0xdead_beef);
        } else {
            ptr.read_volatile();
        }
    }
    say!("FAIL probe survived");
}

/// After `after` heartbeats, one IN or OUT of `width` bytes at `port=`; surviving it is a
/// failure.
fn ioprobe(args: &Args) {
    let Some(port) = args.port else {
        say!("FAIL ioprobe needs port=<hex port>");
        return;
    };
    timer::wait_beats(args.after);
    let op = if args.write { "out" } else { "in" };
    say!("ioprobing {:#x} {}", port, op);
    console::flush();
    match (args.write, args.width) {
        (false, 1) => drop(cpu::inb(port)),
        (false, 2) => drop(cpu::inw(port)),
        (false, _) => drop(cpu::inl(port)),
        (true, 1) => cpu::outb(port, 0xa5),
        (true, 2) => cpu::outw(port, 0xa5a5),
        (true, _) => cpu::outl(port, 0xa5a5_a5a5),
    }
    say!("FAIL ioprobe survived");
}

/// After `reset_after` heartbeats, resets through port 0xcf9.
fn reset(args: &Args) {
    timer::wait_beats(args.reset_after);
    say!("calling system_reset");
    console::flush();
    cpu::outb(RESET_PORT, RESET_VALUE);
    timer::delay_ms(GRACE_MS);
    say!("FAIL system_reset returned");
}

/// After `off_after` heartbeats, enters S5 through the FADT's PM1a control port with the
/// DSDT's `\_S5` SLP_TYP (5 in a partition; 0 on QEMU's and Bochs' firmware).
fn poweroff(plat: &Platform, args: &Args) {
    timer::wait_beats(args.off_after);
    let Some(port) = plat.pm1a_cnt else {
        say!("FAIL system_off: the FADT has no PM1a_CNT_BLK");
        return;
    };
    let (typ, from) = match plat.s5_slp_typ {
        Some(t) => (t, "dsdt"),
        None => (S5_DEFAULT, "default"),
    };
    say!(
        "system_off pm1a_cnt={:#x} slp_typ={} from {}",
        port,
        typ,
        from
    );
    say!("calling system_off");
    console::flush();
    cpu::outw(port, u16::from(typ & 7) << 10 | SLP_EN);
    timer::delay_ms(GRACE_MS);
    say!("FAIL system_off returned");
}

/// Exits as fast as possible, forever: hypercall YIELD in a partition, CPUID natively.
fn spam(plat: &Platform) -> ! {
    let mut complained = false;
    let mut k = 0u64;
    loop {
        for _ in 0..SPAM_BATCH {
            if plat.native {
                cpu::cpuid(0, 0);
                continue;
            }
            let r = hypercall::status(hypercall::vmcall(YIELD, [0; 6])[0]);
            if r < 0 && !complained {
                say!("FAIL spam call {:#x} returned {}", YIELD, r);
                complained = true;
            }
        }
        k += 1;
        say!("spam {}", k);
    }
}

/// PARTITION_INFO again: the id must match CPUID 0x40000001 EBX, the name the boot-time
/// answer.
fn hcall(plat: &Platform) {
    if plat.native {
        say!("SKIP partition_info native");
        return;
    }
    let mut buf = [0u8; 16];
    match hypercall::partition_info(&mut buf) {
        Err(s) => say!("FAIL partition_info returned {}", s),
        Ok((id, name)) => {
            let cpuid_id = u64::from(cpu::cpuid(0x4000_0001, 0)[1]);
            if id == cpuid_id && name == plat.name && !name.is_empty() {
                say!("PASS partition_info id={} name={}", id, name);
            } else {
                say!(
                    "FAIL partition_info id={} name={} cpuid id={} boot name={}",
                    id,
                    name,
                    cpuid_id,
                    plat.name
                );
            }
        }
    }
}

/// Bochs' backdoors (`door=`): the magic breakpoint `xchg bx, bx`, the 0xe9 debug port,
/// the 0x8900 shutdown port. In a partition the ports are unassigned: it is stopped.
fn backdoor(plat: &Platform, args: &Args) {
    timer::wait_beats(args.after);
    say!("trying {}", args.door);
    console::flush();
    match args.door {
        // SAFETY: XCHG of BX with itself changes nothing; only Bochs' debugger notices.
        "magic" => unsafe { asm!("xchg bx, bx", options(nomem, nostack, preserves_flags)) },
        "e9" => cpu::outb(0xe9, b'!'),
        // Bochs wants the string byte by byte.
        _ => b"Shutdown".iter().for_each(|&b| cpu::outb(0x8900, b)),
    }
    match args.door {
        "magic" => say!("PASS backdoor magic no-op"),
        door if plat.native => say!("backdoor {} returned", door),
        door => say!("FAIL backdoor {} survived", door),
    }
}

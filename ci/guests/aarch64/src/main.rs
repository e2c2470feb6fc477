//! `heartbeat`: Bulkhead's aarch64 test guest; its bootargs pick the behaviour.
//!
//! One position-independent EL1 image for bare QEMU and for Bulkhead partitions. vCPU 0
//! enters at the arm64 Image header with x0 = device tree; the output contract and the
//! behaviours are described in README.md.
#![no_std]
#![no_main]

mod args;
mod behaviours;
mod boot;
mod exceptions;
mod platform;

use testguest::{console, gic, mmio, say, smccc, timer};

use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;

use platform::PLATFORM;

/// Rust entry of vCPU 0, called by the start code with x0 = device tree.
extern "C" fn kmain(dtb: usize) -> ! {
    // SAFETY: the boot protocol (Linux arm64 booting.rst, and Bulkhead's loader) puts a
    // device tree at x0 that nothing overwrites afterwards.
    let plat = match unsafe { platform::probe(dtb) } {
        Ok(plat) => plat,
        Err(why) => {
            say!("FAIL device tree at {:#x}: {}", dtb, why);
            exceptions::halt()
        }
    };
    console::set_base(plat.uart);
    PLATFORM.set(plat);
    let (args, bad) = args::parse(plat.bootargs);
    say!(
        "hello {} id={} vcpus={} mem={:#x}+{:#x}",
        plat.name,
        plat.id,
        plat.ncpus,
        plat.mem.0,
        plat.mem.1
    );
    if let Some(word) = bad {
        say!("FAIL bootargs {}", word);
    }
    if args.timer_phys {
        timer_phys_at_boot();
    }
    say!("cpu 0 up");
    gic::init_distributor(plat.gicd);
    if let Err(why) = gic::init_cpu(plat.gicr.0, plat.gicr.1) {
        say!("FAIL cpu 0 gic: {}", why);
        exceptions::halt()
    }
    timer::start(args.period_ms);
    gic::enable_irqs();
    behaviours::run(&plat, &args)
}

/// `timer=phys`: the heartbeat moves to the EL1 physical timer, which must come out of
/// reset disabled (a restarted partition must not inherit its last run's deadline).
fn timer_phys_at_boot() {
    timer::use_physical();
    let ctl = timer::physical_ctl();
    say!("timer phys ppi {} ctl={:#x}", timer::intid(), ctl);
    if ctl & 1 != 0 {
        say!("FAIL timer phys enabled at boot ctl={:#x}", ctl);
    }
}

/// Rust entry of a secondary vCPU started by PSCI CPU_ON with context id = `cpu`.
extern "C" fn secondary_main(cpu: usize) -> ! {
    timer::stop();
    let Some(plat) = PLATFORM.get() else {
        exceptions::halt()
    };
    say!("cpu {} up", cpu);
    if let Err(why) = gic::init_cpu(plat.gicr.0, plat.gicr.1) {
        say!("FAIL cpu {} gic: {}", cpu, why);
    }
    behaviours::smp::secondary_up();
    gic::enable_irqs();
    behaviours::secondary(&plat, cpu);
    behaviours::idle()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => say!(
            "FAIL panic at {}:{}: {}",
            at.file(),
            at.line(),
            info.message()
        ),
        None => say!("FAIL panic: {}", info.message()),
    }
    exceptions::halt()
}

/// The guest never allocates, but `bulkhead-core` links `alloc`, which wants an allocator.
struct NoAlloc;

// SAFETY: every allocation fails (null), which GlobalAlloc allows; so dealloc never
// receives a pointer.
unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

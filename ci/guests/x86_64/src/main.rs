//! `heartbeat`: Bulkhead's x86_64 test guest; its command line picks the behaviour.
//!
//! One ELF64 linked at 1 MiB for bare machines (GRUB Multiboot2, QEMU PVH) and Bulkhead
//! partitions (doc/x86.md). vCPU 0 enters `_start32` (boot.s) in 32-bit protected mode and
//! switches to long mode itself; the output contract and the behaviours are described in
//! README.md.
#![no_std]
#![no_main]

mod acpi;
mod apic;
mod args;
mod behaviours;
mod boot;
mod bootinfo;
mod console;
mod cpu;
mod hypercall;
mod idt;
mod platform;
mod timer;

use core::alloc::{GlobalAlloc, Layout};
use core::panic::PanicInfo;

/// Rust entry of vCPU 0, called by boot.s with the entry EAX, EBX and ESI.
extern "C" fn kmain(eax: u32, ebx: u32, esi: u32) -> ! {
    // SAFETY: boot.s saved the registers the loader entered with, and nothing below
    // 1 MiB (or anywhere outside the image) has been written since.
    let boot = unsafe { bootinfo::parse(eax, ebx, esi) };
    if boot.protocol.native() {
        console::init_native();
        platform::native_pic_off();
    }
    boot::load_tss(0);
    idt::init();
    idt::load();
    let (apic_mode, apic_problem) = apic::init_cpu();
    let plat = platform::probe(&boot);
    let (args, bad) = args::parse(plat.cmdline);
    say!(
        "hello {} id={} vcpus={} mem={:#x}+{:#x}",
        plat.name,
        plat.id,
        plat.ncpus,
        plat.mem.0,
        plat.mem.1
    );
    platform::check(plat);
    if let Some(reg) = apic_problem {
        say!("FAIL apic: {} write raised #GP", reg);
    }
    if let Some(word) = bad {
        say!("FAIL bootargs {}", word);
    }
    say!("cpu 0 up");
    let source = tsc_frequency(plat.native);
    let mode = timer::start(args.period_ms);
    say!(
        "boot {} apic {} timer {} tsc={}kHz from {}",
        plat.protocol.name(),
        apic_mode,
        mode,
        timer::tsc_khz(),
        source
    );
    cpu::sti();
    behaviours::run(plat, &args)
}

/// Sets the TSC frequency: CPUID 0x40000001 in a partition, calibrated natively.
fn tsc_frequency(native: bool) -> &'static str {
    let found = if native {
        timer::native_tsc_khz()
    } else {
        timer::partition_tsc_khz().map(|k| (k, "cpuid 0x40000001"))
    };
    match found {
        Some((khz, source)) => {
            timer::set_tsc_khz(khz);
            source
        }
        None => {
            say!("FAIL tsc frequency unknown: assuming 1 GHz");
            timer::set_tsc_khz(1_000_000);
            "a guess"
        }
    }
}

/// Rust entry of an AP (boot.s `ap_long_entry`), `index` chosen by the BSP.
extern "C" fn ap_main(index: u64) -> ! {
    let i = (index as usize).min(boot::MAX_CPUS);
    boot::load_tss(i);
    idt::load();
    let (_, apic_problem) = apic::init_cpu();
    if let Some(reg) = apic_problem {
        say!("FAIL apic: cpu {} {} write raised #GP", i, reg);
    }
    if i == boot::MAX_CPUS {
        say!("FAIL foreign cpu came up: apic id {}", apic::id());
        behaviours::smp::ap_up();
        cpu::stop()
    }
    say!("cpu {} up", i);
    timer::start_this_cpu();
    behaviours::smp::ap_up();
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
    idt::halt()
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

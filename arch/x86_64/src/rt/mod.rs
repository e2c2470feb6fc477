//! The x86_64 runtime: boot, per-CPU start-up, VMX and the host services core's vCPU
//! loop uses.
//!
//! The boot CPU reads the boot loader's hand-over, moves the bundle behind the image,
//! starts the heap, checks the platform description against the machine, validates the
//! config and builds every partition; then it starts the CPUs partitions use with
//! INIT-SIPI-SIPI. Each CPU a partition owns enters VMX operation and runs that
//! partition's vCPU for ever; the rest halt.

mod apic;
mod boot;
mod console;
mod cpu;
mod exits;
mod guestmem;
mod heap;
mod ioapic;
mod setup;
mod smp;
mod tsc;
mod vcpu;
mod vmx;

use alloc::boxed::Box;

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::partition::{self, Event, Host, PartitionCtl};
use spin::Once;

use crate::bootinfo::Phys;
use setup::Part;

core::arch::global_asm!(include_str!("boot.s"), options(att_syntax));

/// What the board binary tells the runtime (STYLE 1: boards are data).
pub struct Board {
    /// Board name, printed at boot.
    pub name: &'static str,
    /// I/O port of the 16550 used before the config names the console.
    pub early_uart: u16,
}

extern "Rust" {
    /// Defined by the board crate.
    static BULKHEAD_BOARD: Board;
}

fn board() -> &'static Board {
    // SAFETY: the board crate defines this immutable static; reading it is safe.
    unsafe { &BULKHEAD_BOARD }
}

/// Every partition, built once by the boot CPU before any other CPU starts.
static PARTS: Once<Vec<&'static Part>> = Once::new();
/// VMX controls, worked out once.
static CONTROLS: Once<vmx::Controls> = Once::new();
/// The machine's ACPI root, for powering it off.
static RSDP: Once<crate::bootinfo::Rsdp> = Once::new();

/// Physical memory through the boot identity map (the first 4 GiB).
struct Identity;

impl Phys for Identity {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        if addr == 0 || end > 1 << 32 {
            return None;
        }
        // SAFETY: the boot tables map the first 4 GiB; the range is below it. The loader's
        // structures and firmware tables live in RAM the hypervisor does not write.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// Boot CPU, after boot.s: the loader's magic (EAX) and information (EBX).
#[no_mangle]
extern "C" fn rust_primary(magic: u32, info: u32) -> ! {
    heap::init_early();
    console::init(board().early_uart);
    cpu::init_idt();
    let host = cpu::init_this_cpu();
    cpu::enable_xsave();
    apic::choose_mode();
    apic::init_this_cpu();
    if let Some(why) = vmx::insn::unsupported() {
        refuse(why);
    }
    let booted = match boot::boot(magic, info) {
        Ok(b) => b,
        Err(msg) => refuse(&msg),
    };
    match vmx::Controls::probe() {
        Ok(c) => {
            CONTROLS.call_once(|| c);
        }
        Err(why) => refuse(why),
    }
    PARTS.call_once(|| booted.parts);
    let parts = PARTS.get().map(Vec::as_slice).unwrap_or(&[]);
    for &cpu in booted.cpus.iter().skip(1) {
        if parts.iter().any(|p| p.pcpus.contains(&cpu)) && !smp::start(cpu, booted.tsc_per_ms) {
            defmt::error!("cpu {=u32} did not start", cpu);
        }
    }
    cpu_main(host)
}

/// Refuses to start: one line, nothing runs, the machine powers off (so an emulator
/// ends and `cargo bh run` reports the refusal).
fn refuse(why: &str) -> ! {
    defmt::error!("boot failed: {=str}", why);
    console::write_line("bulkhead: boot failed (see the log above); nothing started");
    machine_off()
}

/// ACPI S5 through the machine's own tables, else halt.
fn machine_off() -> ! {
    if let Some(off) = RSDP.get().and_then(|r| crate::acpi::power_off(r, &Identity).ok()) {
        let value = (u16::from(off.slp_typ) << 10) | (1 << 13);
        // SAFETY: the FADT's PM1a control block belongs to the hypervisor (no partition
        // started); writing SLP_TYP|SLP_EN is the architected way to enter S5.
        unsafe { x86_64::instructions::port::Port::<u16>::new(off.port).write(value) };
    }
    halt()
}

/// Other CPUs, after the trampoline, on the stack the boot CPU gave them.
#[no_mangle]
extern "C" fn rust_secondary() -> ! {
    let host = cpu::init_this_cpu();
    cpu::enable_xsave();
    apic::init_this_cpu();
    smp::STARTED.fetch_add(1, Ordering::AcqRel);
    cpu_main(host)
}

fn cpu_main(host: (u64, u64)) -> ! {
    let me = apic::id();
    let parts = PARTS.get().map(Vec::as_slice).unwrap_or(&[]);
    let Some((part, index)) = parts.iter().find_map(|p| p.pcpus.iter().position(|&c| c == me).map(|i| (*p, i))) else {
        defmt::info!("cpu {=u32} has no partition: halted", me);
        halt()
    };
    // SAFETY: once per CPU, interrupts off, VMX checked supported on the boot CPU (the
    // machine's CPUs are alike).
    if let Err(why) = unsafe { vmx::insn::enable() } {
        defmt::error!("cpu {=u32}: {=str}", me, why);
        halt()
    }
    let Some(&ctl) = CONTROLS.get() else { halt() };
    let vendor = match vmx::Vmx::new(part, ctl, host) {
        Ok(v) => v,
        Err(why) => {
            defmt::error!("cpu {=u32}: {=str}", me, why);
            halt()
        }
    };
    let mut vcpu = vcpu::Vcpu::new(part, index, vendor);
    partition::run_vcpu(&part.ctl, index, &mut vcpu, &RuntimeHost)
}

/// Core's view of this machine.
struct RuntimeHost;

fn part_of(ctl: &PartitionCtl) -> Option<&'static Part> {
    PARTS.get()?.iter().copied().find(|p| core::ptr::eq(&p.ctl, ctl))
}

impl Host for RuntimeHost {
    fn wait(&self) {
        apic::idle();
    }

    fn kick(&self, ctl: &PartitionCtl, vcpu: usize) {
        if let Some(&cpu) = part_of(ctl).and_then(|p| p.pcpus.get(vcpu)) {
            apic::send(cpu, apic::KICK);
        }
    }

    fn reload(&self, ctl: &PartitionCtl) -> Result<(GuestPhysAddr, u64), &'static str> {
        part_of(ctl).ok_or("unknown partition")?.load(true)
    }

    fn report(&self, ctl: &PartitionCtl, event: Event) {
        let line = partition::report::line(&ctl.name, &event, "exit");
        if partition::report::is_error(&event) {
            defmt::error!("{=str}", line.as_str());
        } else {
            defmt::info!("{=str}", line.as_str());
        }
    }
}

/// A 4 KiB, 4 KiB-aligned region (VMXON region, VMCS, VMCB, bitmaps).
#[repr(C, align(4096))]
pub struct Page(pub [u8; 4096]);

impl Page {
    /// A zeroed page on the heap, for ever.
    pub fn leak() -> &'static mut Page {
        Box::leak(Box::new(Page([0; 4096])))
    }

    /// Its physical address (the heap is identity-mapped).
    pub fn phys(&self) -> u64 {
        self as *const Page as u64
    }
}

/// Stops this CPU for good.
pub fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("hypervisor panic: {}", defmt::Display2Format(info));
    halt()
}

//! The x86_64 runtime: boot, per-CPU start-up, the virtualization extension (VMX or
//! SVM, whichever the CPU has) and the host services core's vCPU loop uses.
//!
//! The boot CPU reads the boot loader's hand-over, picks the extension, moves the
//! bundle behind the image, starts the heap, checks the platform description against
//! the machine, validates the config and builds every partition; then it starts the
//! CPUs partitions use with INIT-SIPI-SIPI. Each CPU a partition owns turns the
//! extension on and runs that partition's vCPU for ever; the rest halt.

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
mod svm;
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
/// The virtualization extension, chosen once by the boot CPU.
static EXTENSION: Once<Extension> = Once::new();

/// The virtualization extension this machine's CPUs have, with what was probed.
#[derive(Clone, Copy)]
pub enum Extension {
    /// Intel VMX: the VMCS controls every VMCS gets.
    Vmx(vmx::Controls),
    /// AMD SVM.
    Svm(svm::Features),
}

impl Extension {
    /// VMX if the CPU has it, else SVM; `Err` says why neither can be used.
    fn probe() -> Result<Self, &'static str> {
        if core::arch::x86_64::__cpuid(1).ecx & (1 << 5) != 0 {
            if let Some(why) = vmx::insn::unsupported() {
                return Err(why);
            }
            return vmx::Controls::probe().map(Self::Vmx);
        }
        svm::Features::probe().map(Self::Svm)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Vmx(_) => "VMX",
            Self::Svm(_) => "SVM",
        }
    }
}
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
    apic::mask_legacy_pic();
    apic::init_this_cpu();
    let ext = match Extension::probe() {
        Ok(e) => *EXTENSION.call_once(|| e),
        Err(why) => refuse(why),
    };
    let booted = match boot::boot(magic, info, &ext) {
        Ok(b) => b,
        Err(msg) => refuse(&msg),
    };
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
    let Some(&ext) = EXTENSION.get() else { halt() };
    match ext {
        Extension::Vmx(ctl) => {
            // SAFETY: once per CPU, interrupts off, VMX probed usable on the boot CPU
            // (the machine's CPUs are alike).
            let vendor = unsafe { vmx::insn::enable() }.and_then(|()| vmx::Vmx::new(part, ctl, host));
            match vendor {
                Ok(v) => run(part, index, v),
                Err(why) => {
                    defmt::error!("cpu {=u32}: {=str}", me, why);
                    halt()
                }
            }
        }
        Extension::Svm(features) => {
            // SAFETY: once per CPU, interrupts off, SVM probed usable on the boot CPU.
            unsafe { svm::enable() };
            let _ = host; // SVM's host state is this CPU's own, saved by VMSAVE
            run(part, index, svm::Svm::new(part, features))
        }
    }
}

/// Runs vCPU `index` of `part` on this CPU for ever.
fn run<V: vcpu::Vendor>(part: &'static Part, index: usize, vendor: V) -> ! {
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

/// `N` bytes, 4 KiB-aligned and physically contiguous (VMXON region, VMCS, VMCB,
/// permission maps).
#[repr(C, align(4096))]
pub struct Pages<const N: usize>(pub [u8; N]);

/// One 4 KiB page.
pub type Page = Pages<4096>;

impl<const N: usize> Pages<N> {
    /// Zeroed pages on the heap, for ever.
    pub fn leak() -> &'static mut Self {
        // SAFETY: all-zero bytes are a valid `[u8; N]`.
        Box::leak(unsafe { Box::<Self>::new_zeroed().assume_init() })
    }

    /// Their physical address (the heap is identity-mapped).
    pub fn phys(&self) -> u64 {
        self as *const Self as u64
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

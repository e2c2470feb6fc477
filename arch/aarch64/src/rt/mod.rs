//! The EL2 runtime: boot, per-CPU start-up and the host services core's vCPU loop uses.
//!
//! The boot CPU copies the platform DTB, finds the bundle after the image, starts the
//! heap, validates the config against the platform, builds every partition and then
//! starts the other CPUs with PSCI. Each CPU that a partition owns runs that
//! partition's vCPU for ever; the rest park.

mod boot;
mod cache;
mod console;
mod debug;
mod el2;
mod gic;
mod heap;
mod mem;
mod mmu;
mod setup;
mod smp;
mod sysreg;
mod vcpu;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::partition::{self, Event, Host, PartitionCtl};
use spin::Once;

use setup::Part;

/// What the board binary tells the runtime (STYLE 1: boards are data).
pub struct Board {
    /// Board name, printed at boot.
    pub name: &'static str,
    /// PL011 used for messages before the config names the console.
    pub early_uart: usize,
}

extern "Rust" {
    /// Defined by the board crate.
    static BULKHEAD_BOARD: Board;
}

/// Every partition, built once by the boot CPU before any other CPU starts.
static PARTS: Once<Vec<&'static Part>> = Once::new();
/// Platform CPUs by slot (MPIDR affinity; the boot CPU first), written before they start.
static CPUS: Once<Vec<u64>> = Once::new();
static STARTED: AtomicUsize = AtomicUsize::new(0);

fn board() -> &'static Board {
    // SAFETY: the board crate defines this immutable static; reading it is safe.
    unsafe { &BULKHEAD_BOARD }
}

/// Boot CPU, after boot.s: x0 = platform DTB.
#[no_mangle]
extern "C" fn rust_primary(dtb: usize) -> ! {
    console::init(board().early_uart);
    let early = match boot::early(dtb) {
        Ok(found) => found,
        Err(msg) => {
            console::write_line("bulkhead: cannot start:");
            console::write_line(msg);
            smp::system_off()
        }
    };
    match boot::boot(early) {
        Ok((parts, cpus)) => {
            PARTS.call_once(|| parts);
            CPUS.call_once(|| cpus);
        }
        Err(msg) => {
            defmt::error!("boot failed: {=str}", msg.as_str());
            console::write_line("bulkhead: boot failed (see the log above); nothing started");
            smp::system_off();
        }
    }
    smp::start_secondaries();
    cpu_main(0)
}

/// Other CPUs, after boot.s (on the stack the boot CPU gave them).
#[no_mangle]
extern "C" fn rust_secondary() -> ! {
    // SAFETY: the boot CPU built the tables before starting this CPU.
    unsafe { mmu::enable() };
    let mpidr = smp::my_affinity();
    let slot = CPUS.get().and_then(|cpus| cpus.iter().position(|&c| c == mpidr)).unwrap_or(usize::MAX);
    cpu_main(slot)
}

fn cpu_main(slot: usize) -> ! {
    let mpidr = smp::my_affinity();
    gic::init_cpu();
    STARTED.fetch_add(1, Ordering::AcqRel);
    let parts = PARTS.get().map(Vec::as_slice).unwrap_or(&[]);
    let Some((part, index)) = parts
        .iter()
        .find_map(|p| p.pcpus.iter().position(|&c| c == mpidr).map(|i| (*p, i)))
    else {
        defmt::info!("cpu {=usize} (mpidr {=u64:#x}) has no partition: parked", slot, mpidr);
        smp::park()
    };
    // SAFETY: VTTBR/VTCR come from this partition's own stage-2 tables (setup.rs).
    unsafe { el2::enter_partition(part.vttbr, part.vtcr) };
    el2::set_virtual_mpidr(crate::psci::virtual_mpidr(index));
    gic::enable_guest_interrupts(part, index);
    let mut vcpu = vcpu::Vcpu::new(part, index);
    partition::run_vcpu(&part.ctl, index, &mut vcpu, &RuntimeHost)
}

/// Core's view of this machine.
struct RuntimeHost;

fn part_of(ctl: &PartitionCtl) -> Option<&'static Part> {
    PARTS.get()?.iter().copied().find(|p| core::ptr::eq(&p.ctl, ctl))
}

impl Host for RuntimeHost {
    fn wait(&self) {
        gic::idle();
    }

    fn kick(&self, ctl: &PartitionCtl, vcpu: usize) {
        if let Some(&mpidr) = part_of(ctl).and_then(|p| p.pcpus.get(vcpu)) {
            gic::kick(mpidr);
        }
    }

    fn reload(&self, ctl: &PartitionCtl) -> Result<(GuestPhysAddr, u64), &'static str> {
        part_of(ctl).ok_or("unknown partition")?.load(true)
    }

    fn report(&self, ctl: &PartitionCtl, event: Event) {
        report(ctl, event);
    }
}

fn report(ctl: &PartitionCtl, event: Event) {
    let line = partition::report::line(&ctl.name, &event, "esr");
    if partition::report::is_error(&event) {
        defmt::error!("{=str}", line.as_str());
    } else {
        defmt::info!("{=str}", line.as_str());
    }
}

/// An exception taken at EL2 itself: a hypervisor bug, never guest input.
#[no_mangle]
extern "C" fn rust_el2_fault(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    defmt::error!("EL2 exception {=u64} esr={=u64:#x} elr={=u64:#x} far={=u64:#x}", kind, esr, elr, far);
    smp::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("hypervisor panic: {}", defmt::Display2Format(info));
    smp::park()
}

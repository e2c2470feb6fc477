//! Physical CPUs: identity, PSCI calls to the platform firmware, parking.

use core::arch::asm;

use crate::psci;

extern "C" {
    fn secondary_entry();
}

/// This CPU's MPIDR_EL1 affinity fields (Aff3..Aff0), as CPU nodes' `reg` names them.
pub fn my_affinity() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr) };
    mpidr & 0xff_00ff_ffff
}

/// A PSCI call to the platform firmware at EL3 (SMC conduit, Arm DEN0022).
fn firmware(function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(function);
    // SAFETY: an SMC to EL3 firmware with a PSCI function id; the firmware preserves
    // everything but x0..x3 per the SMC Calling Convention.
    unsafe {
        asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _);
    }
    x0 as i64
}

/// Bytes of stack each secondary CPU gets.
const STACK_SIZE: usize = 64 << 10;

/// Starts the CPU with affinity `mpidr` at `secondary_entry` with x0 = the top of a
/// fresh stack. Passes affinity bits only: firmware such as QEMU's rejects other MPIDR
/// bits.
pub fn cpu_on(mpidr: u64) -> i64 {
    // The stack lives for ever: the CPU runs its vCPU until the machine stops. u128
    // elements keep it 16-byte aligned as AAPCS64 wants.
    let stack: &'static mut [u128] = alloc::vec![0u128; STACK_SIZE / 16].leak();
    let top = stack.as_mut_ptr_range().end as u64;
    firmware(psci::CPU_ON_64, mpidr, secondary_entry as *const () as u64, top)
}

/// Powers the whole machine off (nothing could be started).
pub fn system_off() -> ! {
    firmware(psci::SYSTEM_OFF, 0, 0, 0);
    park()
}

/// Stops this CPU for good.
pub fn park() -> ! {
    loop {
        // SAFETY: WFI only waits; interrupts stay masked at EL2.
        unsafe { asm!("wfi") };
    }
}

/// Starts every CPU a partition owns, other than this one.
pub fn start_secondaries() {
    let Some(cpus) = super::CPUS.get() else { return };
    let parts = super::PARTS.get().map(|v| v.as_slice()).unwrap_or(&[]);
    for &mpidr in cpus.iter().skip(1) {
        if !parts.iter().any(|p| p.pcpus.contains(&mpidr)) {
            continue;
        }
        let rc = cpu_on(mpidr);
        if rc != 0 {
            defmt::error!("PSCI CPU_ON of cpu {=u64:#x} failed: {=i64}", mpidr, rc);
        }
    }
}

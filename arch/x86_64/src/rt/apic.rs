//! The physical local APIC, in x2APIC mode: the hypervisor's kick IPIs, the timer that
//! stands in for each vCPU's virtual timer, INIT-SIPI-SIPI, EOI (SDM Vol. 3A 11.12).

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

/// Vector of the hypervisor's kick IPI: leave guest mode and look at the partition.
pub const KICK: u8 = 0xf0;
/// Vector of the physical timer (a vCPU's virtual timer deadline).
pub const TIMER: u8 = 0xf1;
/// The spurious vector.
pub const SPURIOUS: u8 = 0xff;
/// First vector of passthrough device pins: pin n arrives as `PIN_BASE + n`.
pub const PIN_BASE: u8 = 0x30;

const APIC_BASE: u32 = 0x1b;
const X2APIC_ID: u32 = 0x802;
const EOI: u32 = 0x80b;
const SVR: u32 = 0x80f;
const ICR: u32 = 0x830;
const LVT_TIMER: u32 = 0x832;
const TSC_DEADLINE: u32 = 0x6e0;

fn wrmsr(msr: u32, value: u64) {
    // SAFETY: every caller passes an x2APIC register (or IA32_APIC_BASE /
    // IA32_TSC_DEADLINE) of this CPU's own local APIC, which the hypervisor owns.
    unsafe { Msr::new(msr).write(value) };
}

fn rdmsr(msr: u32) -> u64 {
    // SAFETY: as in `wrmsr`; reads have no side effects.
    unsafe { Msr::new(msr).read() }
}

/// Whether the CPU has an x2APIC (CPUID.1:ECX[21]).
pub fn has_x2apic() -> bool {
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.ecx & (1 << 21) != 0
}

/// Switches this CPU's APIC to x2APIC mode, software-enabled, TSC-deadline timer on
/// [`TIMER`], nothing else unmasked.
pub fn init_this_cpu() {
    let base = rdmsr(APIC_BASE);
    wrmsr(APIC_BASE, base | (1 << 11) | (1 << 10)); // EN, EXTD
    wrmsr(SVR, 0x100 | u64::from(SPURIOUS));
    wrmsr(LVT_TIMER, (2 << 17) | u64::from(TIMER)); // TSC-deadline mode
    wrmsr(TSC_DEADLINE, 0);
}

/// This CPU's x2APIC id.
pub fn id() -> u32 {
    rdmsr(X2APIC_ID) as u32
}

/// Ends the interrupt in service.
pub fn eoi() {
    wrmsr(EOI, 0);
}

/// Sends fixed interrupt `vector` to the CPU with x2APIC id `dest`.
pub fn send(dest: u32, vector: u8) {
    wrmsr(ICR, (u64::from(dest) << 32) | u64::from(vector));
}

/// INIT then two SIPIs at `page` (the start-up vector: the CPU starts at
/// `page << 12` in real mode), to the CPU with x2APIC id `dest` (SDM Vol. 3A 9.4.4.1).
pub fn start_cpu(dest: u32, page: u8, delay: impl Fn(u64)) {
    let to = u64::from(dest) << 32;
    wrmsr(ICR, to | 0x4500); // INIT, level assert
    delay(10_000);
    wrmsr(ICR, to | 0x4600 | u64::from(page));
    delay(200);
    wrmsr(ICR, to | 0x4600 | u64::from(page));
}

/// Arms this CPU's timer for TSC value `deadline` (0: off).
pub fn set_deadline(deadline: u64) {
    wrmsr(TSC_DEADLINE, deadline);
}

/// Sleeps until an interrupt arrives, which the IDT handler ends: a CPU with no vCPU
/// to run waits for a kick here.
pub fn idle() {
    // SAFETY: interrupts are enabled only across HLT (STI's one-instruction shadow makes
    // the pair atomic); every vector has a handler that ends it and returns.
    unsafe { core::arch::asm!("sti", "hlt", "cli") };
}

/// The TSC.
pub fn tsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Most CPUs whose taken interrupts are recorded (x2APIC ids below this).
const CPUS: usize = 64;

/// Vectors the IDT handler took on each CPU (by x2APIC id) while the hypervisor let
/// interrupts in after an SVM exit, which does not acknowledge them itself.
static TAKEN: [[AtomicU64; 4]; CPUS] = [const { [const { AtomicU64::new(0) }; 4] }; CPUS];

/// Records `vector`, taken by the IDT handler on this CPU.
pub fn record(vector: u8) {
    if let Some(cpu) = TAKEN.get(id() as usize) {
        cpu[usize::from(vector / 64)].fetch_or(1 << (vector % 64), Ordering::AcqRel);
    }
}

/// Lets pending physical interrupts in (they are recorded and ended by the IDT handler)
/// and returns one of them, the kick first.
pub fn take_pending() -> Option<u8> {
    // SAFETY: interrupts are enabled for one instruction boundary; every vector has a
    // handler that records it, ends it and returns.
    unsafe { core::arch::asm!("sti", "nop", "cli") };
    let cpu = TAKEN.get(id() as usize)?;
    let taken: [u64; 4] = core::array::from_fn(|i| cpu[i].swap(0, Ordering::AcqRel));
    let has = |v: u8| taken[usize::from(v / 64)] & (1 << (v % 64)) != 0;
    if has(KICK) {
        return Some(KICK);
    }
    (0..=255u8).find(|&v| has(v))
}

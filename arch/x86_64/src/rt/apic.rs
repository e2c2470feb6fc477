//! The physical local APIC: the hypervisor's kick IPIs, the timer that stands in for
//! each vCPU's virtual timer, INIT-SIPI-SIPI, EOI (SDM Vol. 3A chapter 11). x2APIC mode
//! where the CPU has it, xAPIC MMIO otherwise; the TSC-deadline timer where it exists,
//! one-shot counts otherwise.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
const TSC_DEADLINE: u32 = 0x6e0;
/// xAPIC register offsets (x2APIC MSR = 0x800 + offset / 16).
const ID: u32 = 0x20;
const EOI: u32 = 0xb0;
const SVR: u32 = 0xf0;
const ICR_LOW: u32 = 0x300;
const ICR_HIGH: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const LVT_LINT0: u32 = 0x350;
const LVT_LINT1: u32 = 0x360;
const LVT_ERROR: u32 = 0x370;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_DIVIDE: u32 = 0x3e0;
/// The xAPIC page, where the firmware left it.
const XAPIC_BASE: u64 = 0xfee0_0000;

/// Whether the APIC runs in x2APIC mode (MSRs) rather than xAPIC (MMIO); set once by
/// the boot CPU from CPUID, the same on every CPU.
static X2APIC: AtomicBool = AtomicBool::new(false);
/// Whether the timer has a TSC-deadline mode; otherwise one-shot counts are used.
static TSC_DEADLINE_MODE: AtomicBool = AtomicBool::new(false);
/// APIC timer ticks (divide by 1) per 1024 TSC ticks, for the one-shot fallback.
static TICKS_PER_1K_TSC: AtomicU64 = AtomicU64::new(1024);

fn wrmsr(msr: u32, value: u64) {
    // SAFETY: every caller passes an x2APIC register (or IA32_APIC_BASE /
    // IA32_TSC_DEADLINE) of this CPU's own local APIC, which the hypervisor owns.
    unsafe { Msr::new(msr).write(value) };
}

fn rdmsr(msr: u32) -> u64 {
    // SAFETY: as in `wrmsr`; reads have no side effects.
    unsafe { Msr::new(msr).read() }
}

/// Writes APIC register `offset` in whichever mode the APIC is.
fn write(offset: u32, value: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        wrmsr(0x800 + offset / 16, u64::from(value));
    } else {
        // SAFETY: the xAPIC page is the hypervisor's own (never mapped into a
        // partition), identity-mapped; `offset` is a register of it.
        unsafe { ((XAPIC_BASE + u64::from(offset)) as *mut u32).write_volatile(value) };
    }
}

/// Reads APIC register `offset`.
fn read(offset: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        rdmsr(0x800 + offset / 16) as u32
    } else {
        // SAFETY: as in `write`; reads of these registers have no side effects.
        unsafe { ((XAPIC_BASE + u64::from(offset)) as *const u32).read_volatile() }
    }
}

/// Picks x2APIC mode where CPUID offers it (else xAPIC, as on QEMU 7.2's TCG) and the
/// TSC-deadline timer where it exists; once, on the boot CPU.
pub fn choose_mode() {
    let leaf = core::arch::x86_64::__cpuid(1);
    X2APIC.store(leaf.ecx & (1 << 21) != 0, Ordering::Relaxed);
    TSC_DEADLINE_MODE.store(leaf.ecx & (1 << 24) != 0, Ordering::Relaxed);
}

/// Enables this CPU's APIC (x2APIC mode if chosen), its timer on [`TIMER`] (TSC-deadline
/// or one-shot), nothing else unmasked: the firmware's virtual-wire set-up (LINT0 as
/// ExtINT, through which the legacy PIC would deliver its vectors 8-15) is undone.
pub fn init_this_cpu() {
    let base = rdmsr(APIC_BASE);
    let x2 = if X2APIC.load(Ordering::Relaxed) { 1 << 10 } else { 0 };
    wrmsr(APIC_BASE, base | (1 << 11) | x2); // EN (and EXTD)
    write(SVR, 0x100 | u32::from(SPURIOUS));
    for lvt in [LVT_LINT0, LVT_LINT1, LVT_ERROR] {
        write(lvt, 1 << 16); // masked
    }
    if TSC_DEADLINE_MODE.load(Ordering::Relaxed) {
        write(LVT_TIMER, (2 << 17) | u32::from(TIMER));
        wrmsr(TSC_DEADLINE, 0);
    } else {
        write(TIMER_DIVIDE, 0xb); // divide by 1
        write(LVT_TIMER, u32::from(TIMER)); // one-shot
        write(TIMER_INITIAL, 0);
    }
}

/// Masks every pin of the legacy 8259 PICs (the firmware leaves the PIT's IRQ 0
/// unmasked); interrupts reach the hypervisor through the I/O APIC and local APICs only.
pub fn mask_legacy_pic() {
    // SAFETY: the PICs are hypervisor-owned (platform.dts); writing the interrupt mask
    // registers (OCW1) only masks their pins.
    unsafe {
        x86_64::instructions::port::Port::<u8>::new(0x21).write(0xff);
        x86_64::instructions::port::Port::<u8>::new(0xa1).write(0xff);
    }
}

/// Measures the APIC timer against the TSC (one-shot fallback only).
pub fn calibrate(tsc_per_ms: u64) {
    if TSC_DEADLINE_MODE.load(Ordering::Relaxed) {
        return;
    }
    write(TIMER_INITIAL, u32::MAX);
    let start = tsc();
    while tsc() - start < tsc_per_ms {
        core::hint::spin_loop();
    }
    let elapsed = u64::from(u32::MAX - read(0x390)); // current count
    write(TIMER_INITIAL, 0);
    TICKS_PER_1K_TSC.store((elapsed * 1024 / tsc_per_ms).max(1), Ordering::Relaxed);
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        read(ID)
    } else {
        read(ID) >> 24
    }
}

/// Ends the interrupt in service.
pub fn eoi() {
    write(EOI, 0);
}

/// Writes the interrupt command register: destination `dest`, low word `low`.
fn icr(dest: u32, low: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        wrmsr(0x830, (u64::from(dest) << 32) | u64::from(low));
    } else {
        write(ICR_HIGH, dest << 24);
        write(ICR_LOW, low);
    }
}

/// Sends fixed interrupt `vector` to the CPU with APIC id `dest`.
pub fn send(dest: u32, vector: u8) {
    icr(dest, u32::from(vector));
}

/// INIT then two SIPIs at `page` (the start-up vector: the CPU starts at
/// `page << 12` in real mode), to the CPU with APIC id `dest` (SDM Vol. 3A 9.4.4.1).
pub fn start_cpu(dest: u32, page: u8, delay: impl Fn(u64)) {
    icr(dest, 0x4500); // INIT, level assert
    delay(10_000);
    icr(dest, 0x4600 | u32::from(page));
    delay(200);
    icr(dest, 0x4600 | u32::from(page));
}

/// Arms this CPU's timer for TSC value `deadline` (0: off).
pub fn set_deadline(deadline: u64) {
    if TSC_DEADLINE_MODE.load(Ordering::Relaxed) {
        wrmsr(TSC_DEADLINE, deadline);
        return;
    }
    let count = match deadline {
        0 => 0,
        d => {
            let delta = d.saturating_sub(tsc()).max(1);
            (delta * TICKS_PER_1K_TSC.load(Ordering::Relaxed) / 1024).clamp(1, u64::from(u32::MAX)) as u32
        }
    };
    write(TIMER_INITIAL, count);
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

/// A set of interrupt vectors.
#[derive(Clone, Copy, Default)]
pub struct Vectors([u64; 4]);

impl Vectors {
    /// Just `vector`.
    pub fn one(vector: u8) -> Self {
        let mut set = Self::default();
        set.0[usize::from(vector / 64)] |= 1 << (vector % 64);
        set
    }

    /// Whether `vector` is in the set.
    pub fn has(&self, vector: u8) -> bool {
        self.0[usize::from(vector / 64)] & (1 << (vector % 64)) != 0
    }
}

/// Lets pending physical interrupts in (the IDT handler records and ends them) and
/// returns every vector taken on this CPU since the last call.
pub fn take_pending() -> Vectors {
    // SAFETY: interrupts are enabled for one instruction boundary; every vector has a
    // handler that records it, ends it and returns.
    unsafe { core::arch::asm!("sti", "nop", "cli") };
    let Some(cpu) = TAKEN.get(id() as usize) else { return Vectors::default() };
    Vectors(core::array::from_fn(|i| cpu[i].swap(0, Ordering::AcqRel)))
}

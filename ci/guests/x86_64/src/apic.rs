//! The local APIC: x2APIC (MSRs 0x800..) where the CPU has it, which a Bulkhead partition
//! always does; else xAPIC through its MMIO page (QEMU TCG has no x2APIC).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::boot::{cpu_index, MAX_CPUS};
use crate::cpu::{self, IA32_APIC_BASE, IA32_TSC_DEADLINE};
use crate::idt::SPURIOUS_VECTOR;

/// Register offsets (SDM Vol. 3A, Table 11-1); the x2APIC MSR is 0x800 + offset / 16.
const ID: u32 = 0x20;
const TPR: u32 = 0x80;
const EOI: u32 = 0xb0;
const SVR: u32 = 0xf0;
const ICR: u32 = 0x300;
const ICR_HIGH: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3e0;
/// The x2APIC ICR: one 64-bit MSR, destination in the high half.
const X2APIC_ICR_MSR: u32 = 0x830;
/// `IA32_APIC_BASE.EN` and `.EXTD`.
const BASE_EN: u64 = 1 << 11;
const BASE_EXTD: u64 = 1 << 10;
/// `ICR.delivery status` (xAPIC only).
const ICR_PENDING: u32 = 1 << 12;
/// LVT mask bit.
const LVT_MASKED: u32 = 1 << 16;
/// LVT timer mode TSC-deadline (bits 18:17 = 0b10).
const LVT_TSC_DEADLINE: u32 = 0b10 << 17;

/// 0: x2APIC mode; else the xAPIC MMIO base.
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);
/// Whether CPU i has set up its APIC (so that `halt` may touch it).
static UP: [AtomicBool; MAX_CPUS + 1] = [const { AtomicBool::new(false) }; MAX_CPUS + 1];

/// ICR delivery modes and shorthands (SDM Vol. 3A, 11.6.1), assert level included.
pub const ICR_FIXED: u32 = 0x4000;
/// INIT, level assert.
pub const ICR_INIT: u32 = 0x4500;
/// Start-up; the low byte is the vector (page number of the entry).
pub const ICR_SIPI: u32 = 0x4600;
/// Destination shorthand "self".
pub const SH_SELF: u32 = 0b01 << 18;
/// Destination shorthand "all including self".
pub const SH_ALL: u32 = 0b10 << 18;
/// Destination shorthand "all excluding self".
pub const SH_OTHERS: u32 = 0b11 << 18;

/// Enables this CPU's APIC (x2APIC if the CPU has it, or if it is on already) with the
/// spurious vector and TPR 0; returns the mode's name and, if a register write raised
/// #GP (a virtual x2APIC without that register), which one.
pub fn init_cpu() -> (&'static str, Option<&'static str>) {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU (and reads x2APIC-enabled in a
    // partition); the writes below only take the architecturally valid transitions
    // (disabled -> xAPIC -> x2APIC, SDM Vol. 3A, 11.12.5).
    let base = unsafe { cpu::rdmsr(IA32_APIC_BASE) };
    let x2 = base & BASE_EXTD != 0 || cpu::has_ecx1(21);
    if x2 {
        if base & BASE_EXTD == 0 {
            // SAFETY: see above.
            unsafe {
                cpu::wrmsr(IA32_APIC_BASE, base | BASE_EN);
                cpu::wrmsr(IA32_APIC_BASE, base | BASE_EN | BASE_EXTD);
            }
        }
        XAPIC_BASE.store(0, Ordering::SeqCst);
    } else {
        if base & BASE_EN == 0 {
            // SAFETY: see above.
            unsafe { cpu::wrmsr(IA32_APIC_BASE, base | BASE_EN) };
        }
        // Below 4 GiB on every PC: the boot tables map it, uncached.
        XAPIC_BASE.store(base & 0xffff_f000, Ordering::SeqCst);
    }
    let problem = if !write_checked(TPR, 0) {
        Some("TPR (0x808)")
    } else if !write_checked(SVR, 0x100 | u32::from(SPURIOUS_VECTOR)) {
        Some("SVR (0x80f)")
    } else {
        None
    };
    UP[cpu_index()].store(true, Ordering::SeqCst);
    (if x2 { "x2apic" } else { "xapic" }, problem)
}

/// Writes a register at start-up; false if the x2APIC MSR write raised #GP.
fn write_checked(reg: u32, v: u32) -> bool {
    if !is_x2apic() {
        write(reg, v);
        return true;
    }
    crate::idt::attempt!("wrmsr"; in("ecx") 0x800 + reg / 16, in("eax") v, in("edx") 0u32,)
        .is_none()
}

/// Whether the APIC is driven through MSRs.
pub fn is_x2apic() -> bool {
    XAPIC_BASE.load(Ordering::Relaxed) == 0
}

fn read(reg: u32) -> u32 {
    match XAPIC_BASE.load(Ordering::Relaxed) {
        // SAFETY: x2APIC registers are MSRs 0x800 + reg / 16; only existing ones are read.
        0 => unsafe { cpu::rdmsr(0x800 + reg / 16) as u32 },
        // SAFETY: the xAPIC page is mapped (uncached) by the boot tables.
        base => unsafe { ((base + u64::from(reg)) as *const u32).read_volatile() },
    }
}

fn write(reg: u32, v: u32) {
    match XAPIC_BASE.load(Ordering::Relaxed) {
        // SAFETY: as in read; the values written are the guest's own APIC settings.
        0 => unsafe { cpu::wrmsr(0x800 + reg / 16, u64::from(v)) },
        // SAFETY: as in read.
        base => unsafe { ((base + u64::from(reg)) as *mut u32).write_volatile(v) },
    }
}

/// This CPU's APIC id (32 bits in x2APIC mode).
pub fn id() -> u32 {
    let v = read(ID);
    if is_x2apic() {
        v
    } else {
        v >> 24
    }
}

/// Ends the interrupt being handled.
pub fn eoi() {
    write(EOI, 0);
}

/// Sends an IPI: `low` = delivery mode, vector and shorthand; `dest` = APIC id.
pub fn send_ipi(dest: u32, low: u32) {
    if is_x2apic() {
        // SAFETY: writes this CPU's x2APIC ICR: an IPI is all it does.
        unsafe { cpu::wrmsr(X2APIC_ICR_MSR, u64::from(dest) << 32 | u64::from(low)) };
    } else {
        write(ICR_HIGH, dest << 24);
        write(ICR, low);
        for _ in 0..1_000_000 {
            if read(ICR) & ICR_PENDING == 0 {
                break;
            }
            cpu::pause();
        }
    }
}

/// Whether the CPU offers the TSC-deadline timer (CPUID.1:ECX[24]).
pub fn has_tsc_deadline() -> bool {
    cpu::has_ecx1(24)
}

/// Puts the timer in TSC-deadline mode with `vector` (disarmed until a deadline is set).
pub fn timer_tsc_deadline_mode(vector: u8) {
    write(LVT_TIMER, u32::from(vector) | LVT_TSC_DEADLINE);
    // SDM Vol. 3A 11.5.4.1: order the LVT write before the first IA32_TSC_DEADLINE write.
    // SAFETY: MFENCE only orders memory accesses.
    unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
}

/// Arms the TSC-deadline timer.
pub fn set_deadline(tsc: u64) {
    // SAFETY: IA32_TSC_DEADLINE exists when CPUID says TSC-deadline (checked by the caller).
    unsafe { cpu::wrmsr(IA32_TSC_DEADLINE, tsc) };
}

/// One-shot mode, divide by 16, `count` ticks (the fallback without TSC-deadline).
pub fn timer_one_shot(vector: u8, count: u32) {
    write(TIMER_DIVIDE, 0b0011);
    write(LVT_TIMER, u32::from(vector));
    write(TIMER_INITIAL, count.max(1));
}

/// Measures the timer (divide by 16) against `tsc_per_ms`: timer ticks per ms.
pub fn calibrate_timer(tsc_per_ms: u64) -> u64 {
    write(TIMER_DIVIDE, 0b0011);
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_INITIAL, u32::MAX);
    let t0 = cpu::rdtsc();
    while cpu::rdtsc() - t0 < 10 * tsc_per_ms {
        cpu::pause();
    }
    let elapsed = u64::from(u32::MAX - read(TIMER_CURRENT));
    write(TIMER_INITIAL, 0);
    (elapsed / 10).max(1)
}

/// Masks and disarms this CPU's timer (if its APIC is set up).
pub fn timer_stop() {
    if !UP[cpu_index()].load(Ordering::SeqCst) {
        return;
    }
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_INITIAL, 0);
    if has_tsc_deadline() {
        set_deadline(0);
    }
}

//! Thin wrappers for the x86 instructions the guest uses: port I/O, MSRs, CPUID, TSC,
//! control registers and the interrupt flag.

use core::arch::asm;

/// `IA32_APIC_BASE`.
pub const IA32_APIC_BASE: u32 = 0x1b;
/// `IA32_TSC_DEADLINE`.
pub const IA32_TSC_DEADLINE: u32 = 0x6e0;
/// `CR4.OSFXSR`: SSE instructions and FXSAVE enabled.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// `CR4.OSXMMEXCPT`: SIMD floating-point exceptions as #XM.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// `CR4.VMXE`.
pub const CR4_VMXE: u64 = 1 << 13;
/// `CR4.OSXSAVE`: XSAVE and XSETBV enabled.
pub const CR4_OSXSAVE: u64 = 1 << 18;

/// `IN AL, port`.
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: a port read; callers only read ports of devices they mean to talk to.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `OUT port, AL`.
pub fn outb(port: u16, v: u8) {
    // SAFETY: a port write; callers only write ports of devices they mean to talk to (or,
    // in the probe behaviours, ports they mean the hypervisor to stop them for).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    };
}

/// `IN AX, port`.
pub fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: as for inb.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `OUT port, AX`.
pub fn outw(port: u16, v: u16) {
    // SAFETY: as for outb.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") v, options(nomem, nostack, preserves_flags))
    };
}

/// `IN EAX, port`.
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as for inb.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `OUT port, EAX`.
pub fn outl(port: u16, v: u32) {
    // SAFETY: as for outb.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags))
    };
}

/// `RDMSR`.
///
/// # Safety
/// The MSR must exist (else #GP, fatal unless expected).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `WRMSR`.
///
/// # Safety
/// The MSR must exist and the value must not break what the guest relies on.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32,
             options(nostack, preserves_flags))
    };
}

/// `CPUID` leaf/subleaf: `[eax, ebx, ecx, edx]`.
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: CPUID has no side effects; RBX is LLVM's, so it is saved around the call.
    unsafe {
        asm!(
            "mov {tmp:r}, rbx",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) b,
            inout("eax") leaf => a,
            inout("ecx") sub => c,
            out("edx") d,
            options(nomem, nostack, preserves_flags)
        )
    };
    [a, b, c, d]
}

/// Whether CPUID.1:ECX has bit `bit`.
pub fn has_ecx1(bit: u32) -> bool {
    cpuid(1, 0)[2] & (1 << bit) != 0
}

/// `RDTSC`.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the time-stamp counter; no side effects.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `CR2`: the last page-fault address.
pub fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reads CR2; no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// `CR4`.
pub fn cr4() -> u64 {
    let v: u64;
    // SAFETY: reads CR4; no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes `CR4`.
///
/// # Safety
/// The value must keep paging (PAE) and everything else the guest relies on.
pub unsafe fn set_cr4(v: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Sets `XCR0` (`XSETBV`).
///
/// # Safety
/// CR4.OSXSAVE must be set and the value valid for this CPU (CPUID 0xd).
pub unsafe fn xsetbv0(v: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("xsetbv", in("ecx") 0u32, in("eax") v as u32, in("edx") (v >> 32) as u32,
             options(nomem, nostack, preserves_flags))
    };
}

/// Reads `XCR0` (`XGETBV`); CR4.OSXSAVE must be set.
pub fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads XCR0; only called once CR4.OSXSAVE is set (else #UD).
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Disables interrupts; returns whether they were enabled.
pub fn irqs_off() -> bool {
    let flags: u64;
    // SAFETY: saves RFLAGS and clears IF; the caller restores with irqs_restore.
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) };
    flags & (1 << 9) != 0
}

/// Re-enables interrupts if `on`.
pub fn irqs_restore(on: bool) {
    if on {
        // SAFETY: sets IF again, as it was before irqs_off.
        unsafe { asm!("sti", options(nomem, nostack)) };
    }
}

/// Enables interrupts.
pub fn sti() {
    // SAFETY: the IDT is loaded before anyone calls this.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Enables interrupts and waits for one (`STI; HLT`: the STI shadow makes it race-free).
pub fn sti_hlt() {
    // SAFETY: as sti; HLT only waits.
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
}

/// Stops this CPU for good: interrupts off, HLT forever.
pub fn stop() -> ! {
    loop {
        // SAFETY: masks interrupts and waits; nothing runs on this CPU any more (an NMI
        // returns into the loop).
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Spin-wait hint.
pub fn pause() {
    // SAFETY: PAUSE only hints a spin loop.
    unsafe { asm!("pause", options(nomem, nostack, preserves_flags)) };
}

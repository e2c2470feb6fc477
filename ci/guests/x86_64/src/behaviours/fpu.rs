//! `test=fpu`: the 16 XMM registers (YMM where CPUID and XCR0 allow AVX) keep their
//! values across many exits to the hypervisor (VMCALL YIELD; natively CPUID).
//!
//! The guest's Rust code is soft-float (x86_64-unknown-none): nothing but this module's
//! assembly touches the vector registers, so they hold the pattern between the calls.

use core::arch::global_asm;

use bulkhead_core::hypercall::YIELD;

use crate::platform::Platform;
use crate::{cpu, hypercall, say};

/// Exits made while the registers hold the pattern.
const EXITS: u64 = 40_000;
/// Exits between two checks.
const CHECK_EVERY: u64 = 1000;

// Each register i lives at offset 32 * i of a 512-byte buffer (SSE uses the low 16 bytes).
global_asm!(
    r#"
    .text
fpu_load_sse:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu  (\r*32)(%rdi), %xmm\r
    .endr
    ret
fpu_store_sse:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu  %xmm\r, (\r*32)(%rdi)
    .endr
    ret
fpu_load_avx:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu (\r*32)(%rdi), %ymm\r
    .endr
    ret
fpu_store_avx:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu %ymm\r, (\r*32)(%rdi)
    .endr
    ret
"#,
    options(att_syntax)
);

extern "C" {
    fn fpu_load_sse(p: *const [u64; 64]);
    fn fpu_store_sse(p: *mut [u64; 64]);
    fn fpu_load_avx(p: *const [u64; 64]);
    fn fpu_store_avx(p: *mut [u64; 64]);
}

/// Turns on SSE (CR4.OSFXSR) and, if the CPU has it, AVX (CR4.OSXSAVE, XCR0 x87|SSE|AVX);
/// returns whether AVX is on.
fn enable() -> bool {
    // SAFETY: OSFXSR and OSXMMEXCPT only allow SSE instructions; CR0.MP is set and EM
    // clear since boot, and every x86_64 CPU has SSE2.
    unsafe { cpu::set_cr4(cpu::cr4() | cpu::CR4_OSFXSR | cpu::CR4_OSXMMEXCPT) };
    let ecx = cpu::cpuid(1, 0)[2];
    let (xsave, avx) = (ecx & (1 << 26) != 0, ecx & (1 << 28) != 0);
    if !(xsave && avx) || cpu::cpuid(0xd, 0)[0] & 0b110 != 0b110 {
        return false;
    }
    // SAFETY: the CPU has XSAVE (CPUID.1:ECX[26]) and supports the SSE and AVX state
    // components (CPUID.0xd:EAX); x87 (bit 0) is always set in XCR0.
    unsafe {
        cpu::set_cr4(cpu::cr4() | cpu::CR4_OSXSAVE);
        cpu::xsetbv0(cpu::xgetbv0() | 0b111);
    }
    true
}

/// Makes `n` exits: hypercalls in a partition, CPUID natively.
fn exits(native: bool, n: u64) {
    for _ in 0..n {
        if native {
            cpu::cpuid(0, 0);
        } else {
            hypercall::vmcall(YIELD, [0; 6]);
        }
    }
}

/// Loads the pattern, exits [`EXITS`] times, checks every [`CHECK_EVERY`].
pub fn run(plat: &Platform) {
    let avx = enable();
    let (regs, width) = if avx { ("ymm", 4) } else { ("xmm", 2) };
    let mut pattern = [0u64; 64];
    for (i, w) in pattern.iter_mut().enumerate() {
        *w = 0x0123_4567_89ab_cdef_u64.rotate_left(i as u32 * 5) ^ (i as u64 * 0x1111_1111);
    }
    // SAFETY: the functions read or write only the 512-byte buffer they are given and
    // the vector registers, which no other code of the guest uses.
    unsafe {
        if avx {
            fpu_load_avx(&pattern)
        } else {
            fpu_load_sse(&pattern)
        }
    };
    let mut done = 0;
    while done < EXITS {
        exits(plat.native, CHECK_EVERY);
        done += CHECK_EVERY;
        let mut now = [0u64; 64];
        // SAFETY: as above.
        unsafe {
            if avx {
                fpu_store_avx(&mut now)
            } else {
                fpu_store_sse(&mut now)
            }
        };
        let bad = (0..64).find(|&i| i % 4 < width && now[i] != pattern[i]);
        if let Some(i) = bad {
            say!(
                "FAIL fpu clobbered after {} exits: {}{} word {} is {:#x}, was {:#x}",
                done,
                regs,
                i / 4,
                i % 4,
                now[i],
                pattern[i]
            );
            return;
        }
    }
    say!("PASS fpu preserved {} exits {}0-15", EXITS, regs);
}

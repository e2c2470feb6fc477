//! Bulk copies and clears of guest RAM, where the instruction count is the boot time.
//!
//! Loading a partition copies its kernel (32 MiB for Debian's) and a restart clears all
//! of its RAM; the generic byte/word loops of `compiler_builtins` spend about four
//! instructions per 8 bytes on that, which showed up as most of Linux's boot overhead.
//! These loops move 64 bytes per twelve instructions and clear a whole cache-line
//! block per DC ZVA (Arm ARM C6.2.80).

use core::arch::asm;

/// Copies `len` bytes from `src` to `dst`.
///
/// # Safety
/// `dst..dst+len` must be writable memory not overlapping `src..src+len`, which must be
/// readable.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    let bulk = len & !63;
    if bulk > 0 {
        // SAFETY: the caller guarantees both ranges. General-purpose registers only: the
        // hypervisor never touches FP/SIMD state, which belongs to the guests.
        unsafe {
            asm!(
                "2:",
                "ldp {a}, {b}, [{s}]",
                "ldp {c}, {e}, [{s}, #16]",
                "stp {a}, {b}, [{d}]",
                "stp {c}, {e}, [{d}, #16]",
                "ldp {a}, {b}, [{s}, #32]",
                "ldp {c}, {e}, [{s}, #48]",
                "stp {a}, {b}, [{d}, #32]",
                "stp {c}, {e}, [{d}, #48]",
                "add {s}, {s}, #64",
                "add {d}, {d}, #64",
                "subs {n}, {n}, #64",
                "b.ne 2b",
                s = inout(reg) src => _,
                d = inout(reg) dst => _,
                n = inout(reg) bulk => _,
                a = out(reg) _, b = out(reg) _, c = out(reg) _, e = out(reg) _,
                options(nostack),
            );
        }
    }
    // SAFETY: the tail lies inside the caller's ranges.
    unsafe { core::ptr::copy_nonoverlapping(src.add(bulk), dst.add(bulk), len - bulk) };
}

/// Sets `len` bytes at `dst` to zero.
///
/// # Safety
/// `dst..dst+len` must be writable Normal memory.
pub unsafe fn zero(dst: *mut u8, len: usize) {
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effects.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    let block = 4usize << (dczid & 0xf);
    let prohibited = dczid & (1 << 4) != 0;
    let start = (dst as usize).next_multiple_of(block);
    let end = (dst as usize + len) & !(block - 1);
    if prohibited || start >= end {
        // SAFETY: the caller guarantees the range.
        unsafe { core::ptr::write_bytes(dst, 0, len) };
        return;
    }
    // SAFETY: the head and tail lie inside the caller's range.
    unsafe {
        core::ptr::write_bytes(dst, 0, start - dst as usize);
        core::ptr::write_bytes(end as *mut u8, 0, dst as usize + len - end);
    }
    let mut at = start;
    while at < end {
        // SAFETY: `at` is a block inside the caller's range, in Normal memory.
        unsafe { asm!("dc zva, {}", in(reg) at, options(nostack)) };
        at += block;
    }
}

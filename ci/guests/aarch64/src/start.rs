//! Start-code step every guest binary shares: zero `.bss`, then self-relocate.
//!
//! The images are linked at 0 as PIEs (link.ld) and run wherever they are loaded with
//! the MMU off. Code reaches everything PC-relatively (ADRP/ADD); only data holding
//! absolute addresses (vtables, `&str` in statics) needs the `R_AARCH64_RELATIVE`
//! entries of `.rela.dyn` applied against the load address before any Rust runs.

use core::arch::global_asm;

/// `R_AARCH64_RELATIVE` (ELF for the Arm 64-bit Architecture, table 5-22).
const R_AARCH64_RELATIVE: u64 = 1027;

// `guest_bss_and_relocate`: a leaf that uses only x1–x8 (x0 and x9–x30 survive) and no
// stack, so it may run before SP points anywhere useful, or while the stack it will use
// lies in the `.bss` it zeroes.
global_asm!(
    r#"
    .section .text.boot, "ax"
    .global guest_bss_and_relocate
guest_bss_and_relocate:
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  adrp    x3, _start
    add     x3, x3, :lo12:_start
    adrp    x4, __rela_start
    add     x4, x4, :lo12:__rela_start
    adrp    x5, __rela_end
    add     x5, x5, :lo12:__rela_end
3:  cmp     x4, x5
    b.hs    4f
    ldp     x6, x7, [x4], #16       // r_offset, r_info
    ldr     x8, [x4], #8            // r_addend
    cmp     x7, #{reloc}
    b.ne    3b
    add     x8, x8, x3
    str     x8, [x3, x6]
    b       3b
4:  ret
"#,
    reloc = const R_AARCH64_RELATIVE,
);

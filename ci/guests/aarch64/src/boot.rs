//! Image header and start code: stacks, `.bss`, self-relocation, FP, vectors, then Rust.
//!
//! The image is linked at 0 as a PIE and runs wherever it is loaded, with the MMU off.
//! Code reaches everything PC-relatively (ADRP/ADD); only data holding absolute
//! addresses (vtables, `&str` in statics) needs the `R_AARCH64_RELATIVE` entries of
//! `.rela.dyn`, which the primary CPU applies before any Rust runs.

use core::arch::{asm, global_asm};

/// Most vCPUs the guest supports (one stack each).
pub const MAX_CPUS: usize = 8;
/// Bytes of stack per vCPU.
pub const STACK_SIZE: usize = 0x4000;

/// `CPACR_EL1.FPEN = 0b11`: FP/SIMD does not trap at EL1 or EL0 (Rust uses NEON).
const CPACR_FPEN: u64 = 3 << 20;
/// `R_AARCH64_RELATIVE` (ELF for the Arm 64-bit Architecture, table 5-22).
const R_AARCH64_RELATIVE: u64 = 1027;

/// Per-vCPU boot stacks; the start code points SP at the top of slot `cpu`.
#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_CPUS]);

/// Lives in `.bss`: zeroed by the primary before it is used, never touched from Rust.
static mut BOOT_STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);

// arm64 Image header (Linux Documentation/arch/arm64/booting.rst), then both entries.
//
// Primary (x0 = DTB): mask interrupts, select SP_EL1, enable FP, set SP to stack 0,
// zero .bss, apply .rela.dyn against the load address, install VBAR_EL1, kmain(x0).
// Secondary (PSCI CPU_ON, x0 = context id = vCPU index): same minus .bss and relocation.
global_asm!(
    r#"
    .section .text.head, "ax"
    b       primary_entry           // code0
    .long   0                       // code1
    .quad   0x80000                 // text_offset
    .quad   __image_size            // image_size: file plus .bss and stacks
    .quad   0xa                     // flags: LE, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                 // res2..res4
    .byte   0x41, 0x52, 0x4d, 0x64  // magic "ARM\x64"
    .long   0                       // res5: no PE header

    .section .text.boot, "ax"
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    mov     x0, #0
    bl      cpu_setup
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
4:  mov     x0, x19
    bl      {kmain}
    b       park

    .global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    cmp     x0, #{max_cpus}
    b.hs    park
    mov     x19, x0
    bl      cpu_setup
    mov     x0, x19
    bl      {secondary_main}
park:
    wfe
    b       park

// x0 = vCPU index: TPIDR_EL1 = index, SP = top of its stack, FP on, VBAR_EL1.
// Returns with a fresh stack: it must not be called with anything live on the old one.
cpu_setup:
    msr     tpidr_el1, x0
    msr     spsel, #1
    mov     x1, #{cpacr}
    msr     cpacr_el1, x1
    adrp    x1, {stacks}
    add     x1, x1, :lo12:{stacks}
    add     x2, x0, #1
    mov     x3, #{stack_size}
    madd    x1, x2, x3, x1
    mov     sp, x1
    adrp    x1, exception_vectors
    add     x1, x1, :lo12:exception_vectors
    msr     vbar_el1, x1
    isb
    ret
"#,
    reloc = const R_AARCH64_RELATIVE,
    max_cpus = const MAX_CPUS,
    cpacr = const CPACR_FPEN,
    stack_size = const STACK_SIZE,
    stacks = sym BOOT_STACKS,
    kmain = sym crate::kmain,
    secondary_main = sym crate::secondary_main,
);

unsafe extern "C" {
    /// Where PSCI CPU_ON starts a secondary vCPU; x0 must hold its index.
    fn secondary_entry();
}

/// Runtime (= physical, MMU off) address of the secondary entry point.
pub fn secondary_entry_addr() -> u64 {
    secondary_entry as *const () as usize as u64
}

/// Index of the calling vCPU (its position among the DT's cpu nodes).
pub fn cpu_index() -> usize {
    let idx: u64;
    // SAFETY: reads TPIDR_EL1, which cpu_setup set to the vCPU index; no side effects.
    unsafe { asm!("mrs {}, tpidr_el1", out(reg) idx, options(nomem, nostack, preserves_flags)) };
    idx as usize
}

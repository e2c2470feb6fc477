//! The bench guest's first instructions, its EL2 stub (bare metal only) and its vectors.
//!
//! The image has no arm64 `Image` header, so Bulkhead places it at the start of the
//! partition's RAM and bare QEMU's `-device loader` at the same 0x50000000: the first
//! byte is the first instruction, and that instruction reads `CNTVCT_EL0`.
//!
//! In a partition the guest starts at EL1. On bare QEMU with `virtualization=on` it
//! starts at EL2 and makes EL1 look as it does in a partition before dropping there:
//! AArch64 EL1, nothing trapped, no stage 2, `CNTVOFF_EL2` = 0, GIC system registers
//! usable at EL1. Its EL2 vector table is a stub that answers an HVC by passing the call
//! on to QEMU's PSCI firmware (`SMC`) and returning: the least any hypervisor can do, so
//! the bare-metal HVC figure is the architectural floor of a trapped call.

use core::arch::global_asm;

/// Bytes of the one stack.
const STACK_SIZE: usize = 0x4000;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// In `.bss`: zeroed by the start code while nothing lives on it yet.
static mut STACK: Stack = Stack([0; STACK_SIZE]);

/// `HCR_EL2` on bare metal: only RW (EL1 is AArch64). No stage 2, nothing trapped.
const HCR_RW: u64 = 1 << 31;
/// `CPTR_EL2`: RES1 bits, TFP clear (FP/SIMD not trapped).
const CPTR_EL2_NOTRAP: u64 = 0x33ff;
/// `CNTHCTL_EL2`: EL1PCTEN | EL1PCEN, as a hypervisor that does not want the timer traps.
const CNTHCTL_EL1_ACCESS: u64 = 0b11;
/// `ICC_SRE_EL2`: SRE | DFB | DIB | Enable (EL1 may use its GIC system registers).
const ICC_SRE_EL2_ALL: u64 = 0xf;
/// `SPSR_EL2` for EL1h with D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// `CPACR_EL1.FPEN = 0b11`: Rust uses FP/SIMD registers.
const CPACR_FPEN: u64 = 3 << 20;

// x20 = CNTVCT at the first instruction, x21 = the EL the guest started at (1 or 2).
global_asm!(
    r#"
    .section .text.head, "ax"
    .global bench_entry
bench_entry:
    mrs     x20, cntvct_el0
    msr     daifset, #0xf
    mrs     x21, CurrentEL
    lsr     x21, x21, #2
    cmp     x21, #2
    b.ne    bench_el1
    mov     x1, #{hcr}
    msr     hcr_el2, x1
    mov     x1, #{cptr}
    msr     cptr_el2, x1
    mov     x1, #{cnthctl}
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    mov     x1, #{sre}
    msr     icc_sre_el2, x1
    mrs     x1, midr_el1
    msr     vpidr_el2, x1
    mrs     x1, mpidr_el1
    msr     vmpidr_el2, x1
    adrp    x1, bench_el2_stub
    add     x1, x1, :lo12:bench_el2_stub
    msr     vbar_el2, x1
    mov     x1, #{spsr}
    msr     spsr_el2, x1
    adr     x1, bench_el1
    msr     elr_el2, x1
    isb
    eret

bench_el1:
    msr     tpidr_el1, xzr
    msr     spsel, #1
    mov     x1, #{cpacr}
    msr     cpacr_el1, x1
    adrp    x1, {stack}
    add     x1, x1, :lo12:{stack}
    add     x1, x1, #{stack_size}
    mov     sp, x1
    bl      guest_bss_and_relocate
    adrp    x1, bench_vectors
    add     x1, x1, :lo12:bench_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x20
    mov     x1, x21
    bl      {main}
1:  wfi
    b       1b

    // EL1 vectors (Arm ARM D1.10.2): only the IRQ from EL1h is expected. Its first
    // instruction reads the counter into x9 for the timer measurement; the handler
    // then acknowledges the interrupt (INTID to x10), turns the timer off so its level
    // drops, and ends the interrupt. The code waiting for it declares x9 and x10
    // clobbered and stays in a WFI loop until x9 is non-zero.
    .macro unexpected kind
    .balign 0x80
    mov     x0, #\kind
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    b       {unexpected}
    .endm

    .section .text.vectors, "ax"
    .balign 2048
bench_vectors:
    unexpected 0
    unexpected 1
    unexpected 2
    unexpected 3
    unexpected 4
    .balign 0x80
    mrs     x9, cntvct_el0
    mrs     x10, icc_iar1_el1
    msr     cntv_ctl_el0, xzr
    isb
    msr     icc_eoir1_el1, x10
    eret
    unexpected 6
    unexpected 7
    unexpected 8
    unexpected 9
    unexpected 10
    unexpected 11
    unexpected 12
    unexpected 13
    unexpected 14
    unexpected 15

    // EL2 stub, bare metal only. A synchronous exception from EL1 can only be an HVC
    // (HCR_EL2 traps nothing else): pass it to the firmware and return its answer.
    // Anything else parks the CPU.
    .balign 2048
bench_el2_stub:
    .rept 8
    .balign 0x80
    b       .
    .endr
    .balign 0x80
    smc     #0
    eret
    .rept 7
    .balign 0x80
    b       .
    .endr
"#,
    hcr = const HCR_RW,
    cptr = const CPTR_EL2_NOTRAP,
    cnthctl = const CNTHCTL_EL1_ACCESS,
    sre = const ICC_SRE_EL2_ALL,
    spsr = const SPSR_EL1H_MASKED,
    cpacr = const CPACR_FPEN,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    main = sym crate::bench_main,
    unexpected = sym crate::unexpected,
);

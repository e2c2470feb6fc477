// Bulkhead aarch64 entry, EL2 exception vectors and the guest entry/exit path.

.equ STACK_SIZE, 0x10000
.equ EXIT_SYNC, 0
.equ EXIT_IRQ, 1
.equ EXIT_FIQ, 2
.equ EXIT_SERROR, 3

// ---------------------------------------------------------------------------------
// arm64 Image header (Linux Documentation/arch/arm64/booting.rst): QEMU -kernel and
// U-Boot booti load us at RAM base + text_offset and pass the platform DTB in x0.
.section .text.boot, "ax"
.global _start
_start:
    b       primary_entry
    .long   0
    .quad   0x80000                      // text_offset
    .quad   __image_size                 // image_size: `cargo bh image` adds the bundle
    .quad   0x2                          // flags: little-endian, 4 KiB pages
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .long   0

primary_entry:
    mov     x19, x0                      // platform DTB
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    not_el2
    msr     daifset, #0xf
    ldr     x1, =__stacks_start
    add     x1, x1, #STACK_SIZE
    mov     sp, x1          // stack of CPU slot 0
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  bl      el2_common
    mov     x0, x19
    bl      rust_primary
    b       park

// PSCI CPU_ON lands here at EL2 with x0 = context = the top of the CPU's stack (a
// heap block the boot CPU set aside for it, rt/smp.rs).
.global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    mov     sp, x0
    bl      el2_common
    bl      rust_secondary
    b       park

// FP/SIMD untrapped at EL2 (CPTR_EL2.TFP = 0), trace registers trapped to EL2
// (CPTR_EL2.TTA, bit 20: a partition gets UNDEF for them) and the vector table installed.
el2_common:
    mov     x1, #0x33ff
    orr     x1, x1, #(1 << 20)
    msr     cptr_el2, x1
    adr     x1, el2_vectors
    msr     vbar_el2, x1
    isb
    ret

not_el2:
park:
    wfe
    b       park

// ---------------------------------------------------------------------------------
// Guest context layout (struct GuestRegs in vcpu.rs): x0..x30 at 8*n, ELR_EL2 at 248,
// SPSR_EL2 at 256. TPIDR_EL2 points at the running vCPU's GuestRegs.

// Loads ELR_EL2/SPSR_EL2 and the guest's x2-x17 from the context at x0.
.macro LOAD_GUEST_X2_X17
    ldp     x2, x3, [x0, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
.endm

// enter_guest(regs: *mut GuestRegs) -> exit code. Saves the callee-saved registers on
// the EL2 stack, loads the guest's and ERETs; an exit the fast path does not finish
// comes back through `guest_exit`, which returns from this call.
.section .text
.global enter_guest
enter_guest:
    stp     x29, x30, [sp, #-16]!
    stp     x27, x28, [sp, #-16]!
    stp     x25, x26, [sp, #-16]!
    stp     x23, x24, [sp, #-16]!
    stp     x21, x22, [sp, #-16]!
    stp     x19, x20, [sp, #-16]!
    msr     tpidr_el2, x0
    LOAD_GUEST_X2_X17
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret

// An exit from the guest. The vector pushed the guest's x0/x1 and put its kind in x1.
// Only the caller-saved registers (x0-x18, x30) and ELR/SPSR are saved before calling
// `fast_exit` in Rust, which preserves x19-x29 (AAPCS64) and so leaves the guest's values
// in them. If it handled the exit (returns 0) the guest resumes at once; otherwise the
// rest of the guest's registers are saved and `enter_guest` returns the exit code.
.macro LOWER_EXIT kind
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       lower_exit
.endm

lower_exit:
    mrs     x0, tpidr_el2
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    str     x18, [x0, #144]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0, #0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #248]
    bl      fast_exit
    cbnz    x0, 1f
    mrs     x0, tpidr_el2
    LOAD_GUEST_X2_X17
    ldr     x18, [x0, #144]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
1:  mrs     x1, tpidr_el2
    stp     x19, x20, [x1, #152]
    stp     x21, x22, [x1, #168]
    stp     x23, x24, [x1, #184]
    stp     x25, x26, [x1, #200]
    stp     x27, x28, [x1, #216]
    str     x29, [x1, #232]
    b       guest_exit

guest_exit:
    ldp     x19, x20, [sp], #16
    ldp     x21, x22, [sp], #16
    ldp     x23, x24, [sp], #16
    ldp     x25, x26, [sp], #16
    ldp     x27, x28, [sp], #16
    ldp     x29, x30, [sp], #16
    ret

// An exception taken from EL2 itself is a hypervisor bug: report and park this CPU.
.macro EL2_FAULT kind
    mov     x0, #\kind
    mrs     x1, esr_el2
    mrs     x2, elr_el2
    mrs     x3, far_el2
    b       rust_el2_fault
.endm

.balign 2048
el2_vectors:
    // Current EL with SP_EL0
    .balign 128
    EL2_FAULT 0
    .balign 128
    EL2_FAULT 1
    .balign 128
    EL2_FAULT 2
    .balign 128
    EL2_FAULT 3
    // Current EL with SP_ELx
    .balign 128
    EL2_FAULT 0
    .balign 128
    EL2_FAULT 1
    .balign 128
    EL2_FAULT 2
    .balign 128
    EL2_FAULT 3
    // Lower EL using AArch64
    .balign 128
    LOWER_EXIT EXIT_SYNC
    .balign 128
    LOWER_EXIT EXIT_IRQ
    .balign 128
    LOWER_EXIT EXIT_FIQ
    .balign 128
    LOWER_EXIT EXIT_SERROR
    // Lower EL using AArch32 (never enabled: HCR_EL2.RW = 1)
    .balign 128
    EL2_FAULT 4
    .balign 128
    EL2_FAULT 4
    .balign 128
    EL2_FAULT 4
    .balign 128
    EL2_FAULT 4

/*
 * Interrupt and exception entry stubs (AT&T syntax; included by idt.rs).
 *
 * 256 stubs of 16 bytes each from `isr_stubs`: vector v's stub is at isr_stubs + 16 * v.
 * Each pushes a zero error code where the CPU pushes none (so every frame looks alike),
 * then its vector, and jumps to the common path, which saves the general registers and
 * calls the Rust dispatcher with a pointer to the frame (idt::Frame). The dispatcher may
 * change the saved RIP (to skip an expected fault). Nothing here touches SSE state: the
 * Rust code is soft-float.
 */
    .section .text.isr, "ax"
    .code64
    .balign 16
    .global isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    /* Vectors with a CPU-pushed error code (SDM Vol. 3A, 6.13): 8, 10-14, 17, 21, 29, 30. */
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq   $0
    .endif
    pushq   $vec
    jmp     isr_common
    .set vec, vec + 1
    .endr

isr_common:
    pushq   %rax
    pushq   %rbx
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %rbp
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    cld
    movq    %rsp, %rdi
    call    {dispatch}
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rbp
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rbx
    popq    %rax
    addq    $16, %rsp
    iretq

/*
 * Entry of the x86_64 test guest (AT&T syntax; included by boot.rs, whose global_asm!
 * supplies the values in braces).
 *
 * vCPU 0 enters `_start32` in 32-bit protected mode, paging off, with
 *   EAX = 0x36d76289, EBX = Multiboot2 information  (GRUB),
 *   EBX = hvm_start_info                            (QEMU -kernel through the PVH note),
 *   ESI = zero page                                 (a Bulkhead partition, doc/x86.md).
 * It loads its own GDT, zeroes .bss, identity-maps the low 4 GiB with 2 MiB pages, turns
 * on long mode and calls kmain(eax, ebx, esi) on CPU 0's stack.
 *
 * Other CPUs start at `tramp_start` (copied below 1 MiB) in real mode after INIT-SIPI-SIPI,
 * go straight to long mode (PE and PG set together) and call ap_main(index) on the stack
 * the BSP chose for them.
 */

/* ---- Multiboot2 header (Multiboot2 spec 3.1): magic, i386, length, checksum, end tag. */
    .section .multiboot2, "a"
    .balign 8
mb2_start:
    .long 0xe85250d6
    .long 0
    .long mb2_end - mb2_start
    .long 0x100000000 - (0xe85250d6 + 0 + (mb2_end - mb2_start))
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_end:

/* ---- PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY = 18): QEMU -kernel enters here. */
    .section .note.pvh, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long _start32

/* ---- 32-bit entry ------------------------------------------------------------------- */
    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    /* Segments are flat (all three protocols), so absolute stores work before lgdt. */
    movl    %eax, boot_eax
    movl    %ebx, boot_ebx
    movl    %esi, boot_esi
    lgdtl   gdt_ptr
    ljmpl   $0x10, $1f
1:  movw    $0x18, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs

    /* Zero .bss: the loader may or may not have (and a reset re-enters here). */
    movl    $__bss_start, %edi
    movl    $__bss_end, %ecx
    subl    %edi, %ecx
    xorl    %eax, %eax
    rep stosb

    /* PML4[0] -> PDPT; PDPT[0..4] -> the four PDs; 2048 PDEs of 2 MiB, P|RW|PS. */
    movl    $pdpt, %eax
    orl     $3, %eax
    movl    %eax, pml4
    movl    $pd, %eax
    orl     $3, %eax
    xorl    %ecx, %ecx
2:  movl    %eax, pdpt(,%ecx,8)
    addl    $0x1000, %eax
    incl    %ecx
    cmpl    $4, %ecx
    jb      2b
    xorl    %ecx, %ecx
3:  movl    %ecx, %eax
    shll    $21, %eax
    orl     $0x83, %eax
    cmpl    $1536, %ecx
    jb      4f
    orl     $0x18, %eax             /* the 4th GiB (APIC, I/O APIC, MMIO): PCD|PWT */
4:  movl    %eax, pd(,%ecx,8)
    incl    %ecx
    cmpl    $2048, %ecx
    jb      3b

    movl    %cr4, %eax
    orl     $0x20, %eax             /* PAE */
    movl    %eax, %cr4
    movl    $pml4, %eax
    movl    %eax, %cr3
    movl    $0xc0000080, %ecx       /* IA32_EFER */
    rdmsr
    orl     $0x100, %eax            /* LME */
    wrmsr
    movl    %cr0, %eax
    andl    $0x9ffffff3, %eax       /* clear CD, NW, TS, EM */
    orl     $0x80010023, %eax       /* PG, WP, NE, MP, PE */
    movl    %eax, %cr0
    ljmpl   $0x08, $long_entry

    .code64
long_entry:
    movw    $0x18, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    xorl    %eax, %eax
    movw    %ax, %fs
    movw    %ax, %gs
    movq    $(stacks + {stack_size}), %rsp
    movl    boot_eax(%rip), %edi
    movl    boot_ebx(%rip), %esi
    movl    boot_esi(%rip), %edx
    call    {kmain}
5:  cli
    hlt
    jmp     5b

/* AP entry in long mode, reached from the trampoline's far jump. */
ap_long_entry:
    movw    $0x18, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    xorl    %eax, %eax
    movw    %ax, %fs
    movw    %ax, %gs
    movq    {ap_stack_top}(%rip), %rsp
    movq    {ap_index}(%rip), %rdi
    call    {ap_main}
6:  cli
    hlt
    jmp     6b

/* ---- AP trampoline: copied to a page below 1 MiB; SIPI enters at its first byte. ---- */
    .section .rodata.trampoline, "a"
    .code16
    .global tramp_start
    .global tramp_end
tramp_start:
    cli
    cld
    movw    %cs, %ax
    movw    %ax, %ds
    lgdtl   (tramp_gdtr - tramp_start)
    movl    %cr4, %eax
    orl     $0x20, %eax             /* PAE */
    movl    %eax, %cr4
    movl    $pml4, %eax
    movl    %eax, %cr3
    movl    $0xc0000080, %ecx       /* IA32_EFER.LME */
    rdmsr
    orl     $0x100, %eax
    wrmsr
    movl    %cr0, %eax
    andl    $0x9ffffff3, %eax
    orl     $0x80010023, %eax       /* PG and PE at once: real mode to long mode */
    movl    %eax, %cr0
    ljmpl   $0x08, $ap_long_entry
    .balign 4
tramp_gdtr:
    .short  gdt_end - gdt - 1
    .long   gdt
tramp_end:
    .code64

/* ---- GDT: 0x08 64-bit code, 0x10 32-bit code, 0x18 data, 0x20.. one TSS per CPU. ---- */
    .section .data.boot, "aw"
    .balign 16
    .global gdt
gdt:
    .quad   0
    .quad   0x00af9b000000ffff
    .quad   0x00cf9b000000ffff
    .quad   0x00cf93000000ffff
    .global gdt_tss
gdt_tss:
    .skip   16 * {ncpu}
gdt_end:
    .balign 8
gdt_ptr:
    .short  gdt_end - gdt - 1
    .long   gdt
boot_eax:
    .long   0
boot_ebx:
    .long   0
boot_esi:
    .long   0

/* ---- Page tables and stacks (zeroed by _start32). ---- */
    .section .bss.boot, "aw", @nobits
    .balign 4096
    .global pml4
    .global pdpt
    .global pd
    .global pdpt_high
    .global pd_high
pml4:
    .skip   4096
pdpt:
    .skip   4096
pd:
    .skip   4 * 4096
pdpt_high:
    .skip   4096
pd_high:
    .skip   4096
    .global stacks
stacks:
    .skip   {per_cpu} * {ncpu}

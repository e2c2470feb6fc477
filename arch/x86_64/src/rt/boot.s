# Bulkhead x86_64 entry: multiboot2 header, 32-bit entry, the switch to long mode, the
# AP trampoline. AT&T syntax. References: Multiboot2 spec 3.1; Intel SDM Vol. 3A 9.8
# (mode switching), 10.4 (MP initialization, INIT-SIPI-SIPI).

.set MB2_MAGIC, 0xE85250D6
.set MB2_ARCH_I386, 0
.set CR0_PE, 1 << 0
.set CR0_NE, 1 << 5
.set CR0_PG, 1 << 31
.set CR4_PAE, 1 << 5
.set MSR_EFER, 0xC0000080
.set EFER_LME, 1 << 8
.set SEL_CODE64, 0x08
.set SEL_DATA, 0x10
.set SEL_CODE32, 0x18
# Where the AP trampoline runs: a real-mode CS:IP of 0x0800:0 (SIPI vector 0x08).
.set TRAMPOLINE, 0x8000

# ---------------------------------------------------------------------------------
# Multiboot2 header (8-byte aligned, in the first 32 KiB): i386 entry, modules page
# aligned, then the end tag. GRUB enters _start32 (the ELF entry) in 32-bit protected
# mode with EAX = 0x36d76289 and EBX = the boot information.
.section .multiboot2, "a"
.balign 8
mb2_start:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_end - mb2_start
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_end - mb2_start))
    .balign 8
    .short 6, 0                 # module alignment tag: modules start on a page
    .long 8
    .balign 8
    .short 0, 0                 # end tag
    .long 8
mb2_end:

# ---------------------------------------------------------------------------------
# PVH ELF note (Xen's HVM direct boot, which QEMU -kernel uses): the 32-bit entry with
# EBX = hvm_start_info. Rust tells the two protocols apart by EAX.
.section .note.pvh, "a", @note
.balign 4
    .long 4
    .long 4
    .long 18                    # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long _start32

# ---------------------------------------------------------------------------------
.section .text32, "ax"
.code32
.global _start32
_start32:
    cli
    cld
    mov     %eax, %edi                  # boot magic: rust_primary's first argument
    mov     %ebx, %esi                  # boot information: the second
    mov     $boot_stack_top, %esp
    # Identity map of the first 4 GiB in 2 MiB pages: PML4[0] -> PDPT, PDPT[0..4] ->
    # four page directories. The tables are in .bss, which the loader zeroed.
    mov     $pdpt, %eax
    or      $3, %eax
    mov     %eax, pml4
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $12, %eax
    add     $pds, %eax
    or      $3, %eax
    mov     %eax, pdpt(,%ecx,8)
    inc     %ecx
    cmp     $4, %ecx
    jne     1b
    xor     %ecx, %ecx
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax                 # present, writable, 2 MiB page
    mov     %eax, pds(,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jne     2b
    call    enter_long_mode
    ljmp    $SEL_CODE64, $long_entry

# Turns on PAE paging with the identity map and long mode; loads the GDT.
enter_long_mode:
    mov     %cr4, %eax
    or      $CR4_PAE, %eax
    mov     %eax, %cr4
    mov     $pml4, %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $EFER_LME, %eax
    wrmsr
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_NE | CR0_PE), %eax
    mov     %eax, %cr0
    lgdt    gdt_ptr
    ret

.code64
long_entry:
    mov     $SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %ax, %ax
    mov     %ax, %fs
    mov     %ax, %gs
    mov     $boot_stack_top, %rsp
    mov     %edi, %edi                  # the upper halves are undefined
    mov     %esi, %esi
    call    rust_primary
3:  cli
    hlt
    jmp     3b

# An AP, in long mode on the identity map, with its stack top in the trampoline's
# data (written by the boot CPU before the SIPI).
ap_long_entry:
    mov     $SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %ax, %ax
    mov     %ax, %fs
    mov     %ax, %gs
    mov     (TRAMPOLINE + (ap_stack - ap_trampoline)), %rsp
    call    rust_secondary
4:  cli
    hlt
    jmp     4b

# ---------------------------------------------------------------------------------
# The AP trampoline: copied to TRAMPOLINE by the boot CPU, entered by the SIPI in real
# mode at 0x0800:0000. Real mode -> protected mode -> long mode on the boot CPU's tables.
.section .rodata.trampoline, "a"
.code16
.global ap_trampoline
.global ap_trampoline_end
.global ap_stack
ap_trampoline:
    cli
    cld
    xor     %ax, %ax
    mov     %ax, %ds
    lgdtl   (TRAMPOLINE + (ap_gdt_ptr - ap_trampoline))
    mov     %cr0, %eax
    or      $CR0_PE, %eax
    mov     %eax, %cr0
    ljmpl   $SEL_CODE32, $(TRAMPOLINE + (ap_pm32 - ap_trampoline))
.code32
ap_pm32:
    mov     $SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     $(TRAMPOLINE + 0x1000), %esp    # the rest of the trampoline's page
    mov     $enter_long_mode, %eax
    call    *%eax
    ljmp    $SEL_CODE64, $ap_long_entry
.balign 8
ap_gdt_ptr:
    .short  gdt_end - gdt - 1
    .long   gdt
.balign 8
ap_stack:
    .quad   0
ap_trampoline_end:

# ---------------------------------------------------------------------------------
.section .data
.balign 16
.global gdt
gdt:
    .quad   0                           # null
    .quad   0x00af9a000000ffff          # 0x08: 64-bit code, DPL 0
    .quad   0x00cf92000000ffff          # 0x10: data, 4 GiB flat
    .quad   0x00cf9a000000ffff          # 0x18: 32-bit code (AP trampoline)
.global gdt_tss
gdt_tss:
    .quad   0, 0                        # 0x20: 64-bit TSS, filled in by Rust
gdt_end:
.global gdt_ptr
gdt_ptr:
    .short  gdt_end - gdt - 1
    .quad   gdt

.section .bss
.balign 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pds:    .skip 4 * 4096
.global boot_stack_top
boot_stack:
    .skip 0x10000
boot_stack_top:

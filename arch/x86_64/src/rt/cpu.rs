//! Per-CPU descriptor tables: a GDT with this CPU's own TSS (VMX needs a usable host TR;
//! a TSS descriptor is busy once loaded, so each CPU has its own), and one IDT for all
//! CPUs.
//!
//! Exceptions in the hypervisor are its own bugs: each is reported with its vector,
//! error code and RIP, then the CPU stops (never a silent triple fault; the double
//! fault runs on its own stack); the exceptions are an NMI (ignored) and a #GP from
//! `try_rdmsr` (a probe). Interrupt vectors only arrive while a CPU lets them in
//! (`apic::idle`, `apic::take_pending`); their handler records them, ends them and
//! returns.

use alloc::boxed::Box;
use core::arch::{asm, global_asm};

use x86_64::instructions::tables::{lgdt, lidt, load_tss};
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::structures::DescriptorTablePointer;
use x86_64::{PrivilegeLevel, VirtAddr};

/// Selectors, as boot.s lays the GDT out.
pub const CODE64: u16 = 0x08;
/// Data segment selector.
pub const DATA: u16 = 0x10;
/// This CPU's TSS selector.
pub const TSS: u16 = 0x20;

/// Bytes of the double-fault stack.
const IST_SIZE: usize = 16 << 10;

extern "C" {
    /// The 256 entry stubs (idt.s), 16 bytes apart.
    static idt_stubs: u8;
}

global_asm!(
    r#"
.section .text
.balign 16
.global idt_stubs
idt_stubs:
.set vec, 0
.rept 256
    .balign 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push $0
    .endif
    push $vec
    jmp idt_common
    .set vec, vec + 1
.endr

idt_common:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov %rsp, %rdi
    cld
    call rust_idt
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp
    iretq
"#,
    options(att_syntax)
);

/// What `idt_common` pushed.
#[repr(C)]
struct Frame {
    scratch: [u64; 9],
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
}

#[no_mangle]
extern "C" fn rust_idt(frame: &mut Frame) {
    if frame.vector >= 32 {
        super::apic::record(frame.vector as u8);
        super::apic::eoi();
        return;
    }
    if frame.vector == 2 {
        // An NMI: nothing on these machines sends one on purpose, and a partition's
        // NMIs are virtual. Ignored rather than fatal.
        return;
    }
    if frame.vector == 13 && frame.rip == core::ptr::addr_of!(try_rdmsr_insn) as u64 {
        // `try_rdmsr` probing an MSR the CPU does not have: it returns `None`.
        frame.rip = core::ptr::addr_of!(try_rdmsr_fault) as u64;
        return;
    }
    let cr2: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) cr2) };
    defmt::error!(
        "hypervisor exception {=u64} error={=u64:#x} rip={=u64:#x} cr2={=u64:#x}",
        frame.vector,
        frame.error,
        frame.rip,
        cr2
    );
    super::halt()
}

extern "C" {
    /// RDMSR of ECX = `msr`; returns 1 and the value in `*out`, or 0 if it faulted.
    fn try_rdmsr_raw(msr: u32, out: *mut u64) -> u64;
    /// The RDMSR in `try_rdmsr_raw` (a #GP there resumes at `try_rdmsr_fault`).
    static try_rdmsr_insn: u8;
    static try_rdmsr_fault: u8;
}

global_asm!(
    r#"
.section .text
.global try_rdmsr_raw
.global try_rdmsr_insn
.global try_rdmsr_fault
try_rdmsr_raw:
    mov ecx, edi
try_rdmsr_insn:
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov [rsi], rax
    mov eax, 1
    ret
try_rdmsr_fault:
    xor eax, eax
    ret
"#
);

/// Reads `msr`, or `None` if this CPU does not have it (#GP): for MSRs that emulators
/// or older CPUs may lack, such as AMD's VM_CR on Bochs.
pub fn try_rdmsr(msr: u32) -> Option<u64> {
    let mut value = 0;
    // SAFETY: RDMSR has no side effects beyond the read; a #GP on the one instruction
    // the IDT handler recognises resumes at the fault label with the stack unchanged.
    (unsafe { try_rdmsr_raw(msr, &mut value) } == 1).then_some(value)
}

#[repr(C, align(16))]
struct Idt([u64; 512]);

static mut IDT: Idt = Idt([0; 512]);

/// Fills the IDT (once, on the boot CPU).
pub fn init_idt() {
    let base = core::ptr::addr_of!(idt_stubs) as u64;
    // SAFETY: the boot CPU builds the table once before any CPU loads it.
    let idt = unsafe { &mut *core::ptr::addr_of_mut!(IDT) };
    for v in 0..256u64 {
        let handler = base + v * 16;
        let ist = if v == 8 { 1 } else { 0 }; // double fault: its own stack
        // 64-bit interrupt gate, present, DPL 0 (SDM Vol. 3A 6.14.1).
        let low = (handler & 0xffff) | (u64::from(CODE64) << 16) | (ist << 32) | (0x8e << 40) | ((handler >> 16 & 0xffff) << 48);
        idt.0[v as usize * 2] = low;
        idt.0[v as usize * 2 + 1] = handler >> 32;
    }
}

/// Loads this CPU's GDT (a copy of boot.s's with its own TSS) and the IDT; returns the
/// GDT and TSS bases (the VMCS host state names them).
pub fn init_this_cpu() -> (u64, u64) {
    extern "C" {
        static gdt: [u64; 6];
    }
    let tss: &'static mut TaskStateSegment = Box::leak(Box::new(TaskStateSegment::new()));
    let ist: &'static mut [u128] = alloc::vec![0u128; IST_SIZE / 16].leak();
    tss.interrupt_stack_table[0] = VirtAddr::new(ist.as_mut_ptr_range().end as u64);
    // SAFETY: boot.s's GDT is a static of six quadwords that nothing writes after boot.
    let mut table: [u64; 6] = unsafe { gdt };
    let base = tss as *const TaskStateSegment as u64;
    let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
    // 64-bit available TSS descriptor (SDM Vol. 3A 8.2.3).
    table[4] = (limit & 0xffff) | ((base & 0xff_ffff) << 16) | (0x89 << 40) | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    table[5] = base >> 32;
    let table: &'static [u64; 6] = Box::leak(Box::new(table));
    let gdt_ptr = DescriptorTablePointer { limit: 6 * 8 - 1, base: VirtAddr::new(table.as_ptr() as u64) };
    let idt_ptr = DescriptorTablePointer { limit: 256 * 16 - 1, base: VirtAddr::new(core::ptr::addr_of!(IDT) as u64) };
    // SAFETY: the new GDT has the same code and data descriptors as the one in use and a
    // TSS of this CPU's own; the IDT is complete (init_idt ran on the boot CPU before any
    // other CPU started). Both live for ever.
    unsafe {
        lgdt(&gdt_ptr);
        lidt(&idt_ptr);
        load_tss(SegmentSelector::new(TSS / 8, PrivilegeLevel::Ring0));
    }
    (gdt_ptr.base.as_u64(), base)
}

/// Turns on CR4.OSXSAVE where the CPU has XSAVE, so the hypervisor can load a
/// partition's XCR0 for it (XSETBV exits; it is #UD with OSXSAVE clear). The hypervisor
/// itself, soft-float, never uses the state; VMCS host CR4 keeps the bit.
pub fn enable_xsave() {
    if core::arch::x86_64::__cpuid(1).ecx & (1 << 26) == 0 {
        return;
    }
    // SAFETY: setting OSXSAVE only makes XGETBV/XSETBV and XSAVE usable; nothing in
    // the hypervisor depends on it being clear.
    unsafe {
        let cr4: u64;
        asm!("mov {}, cr4", out(reg) cr4);
        asm!("mov cr4, {}", in(reg) cr4 | (1 << 18));
    }
}

/// The IDT's base, for the VMCS host state.
pub fn idt_base() -> u64 {
    core::ptr::addr_of!(IDT) as u64
}

//! Image header and start code: stacks, `.bss`, self-relocation, FP, vectors, then Rust.
//!
//! The image is linked at 0 as a PIE and runs wherever it is loaded, with the MMU off;
//! the primary CPU zeroes `.bss` and relocates with `testguest::start` before any Rust
//! runs.

use core::arch::global_asm;

/// Most vCPUs the guest supports (one stack each).
pub const MAX_CPUS: usize = 8;
/// Bytes of stack per vCPU.
pub const STACK_SIZE: usize = 0x4000;

/// `CPACR_EL1.FPEN = 0b11`: FP/SIMD does not trap at EL1 or EL0 (Rust uses NEON).
const CPACR_FPEN: u64 = 3 << 20;

/// Per-vCPU boot stacks; the start code points SP at the top of slot `cpu`.
#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_CPUS]);

/// Lives in `.bss`: zeroed by the primary before it is used, never touched from Rust.
static mut BOOT_STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);

// arm64 Image header (Linux Documentation/arch/arm64/booting.rst), then both entries.
//
// Primary (x0 = DTB): mask interrupts, select SP_EL1, enable FP, set SP to stack 0,
// install VBAR_EL1, zero .bss and apply .rela.dyn (testguest::start), kmain(x0).
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
    bl      guest_bss_and_relocate
    mov     x0, x19
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

pub use testguest::cpu_index;

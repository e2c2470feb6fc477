//! Start code (boot.s), per-CPU stacks and TSS, the AP trampoline and extra mappings.

use core::arch::{asm, global_asm};
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU64, Ordering};

/// CPUs the guest can run (the BSP included); one more stack exists for a CPU that
/// should never have started (`test=smp`'s foreign INIT-SIPI-SIPI).
pub const MAX_CPUS: usize = 16;
/// Stack blocks: one per CPU plus the spare.
const NSTACKS: usize = MAX_CPUS + 1;
/// Each CPU's normal stack.
const STACK_SIZE: usize = 16 * 1024;
/// Each CPU's block: normal stack, then the IST stack for #DF, NMI and #MC above it.
const PER_CPU: usize = STACK_SIZE + 4096;
/// Where the AP trampoline is copied; its SIPI vector is this >> 12.
pub const TRAMPOLINE: usize = 0x1_0000;
/// Selector of CPU 0's TSS descriptor; CPU i's is 16 bytes further.
const TSS_SELECTOR: u16 = 0x20;

global_asm!(
    include_str!("boot.s"),
    stack_size = const STACK_SIZE,
    per_cpu = const PER_CPU,
    ncpu = const NSTACKS,
    kmain = sym crate::kmain,
    ap_main = sym crate::ap_main,
    ap_stack_top = sym AP_STACK_TOP,
    ap_index = sym AP_INDEX,
    options(att_syntax)
);

extern "C" {
    static stacks: u8;
    static mut gdt_tss: [u64; 2 * NSTACKS];
    static mut pml4: [u64; 512];
    static mut pdpt_high: [u64; 512];
    static mut pd_high: [u64; 512];
    static tramp_start: u8;
    static tramp_end: u8;
}

/// Stack top the next AP starts on (read by `ap_long_entry`).
static AP_STACK_TOP: AtomicU64 = AtomicU64::new(0);
/// Index the next AP is given (its `ap_main` argument).
static AP_INDEX: AtomicU64 = AtomicU64::new(0);

/// The 64-bit TSS (SDM Vol. 3A, 8.7): only IST1 is used.
#[repr(C, packed(4))]
struct Tss {
    _reserved0: u32,
    rsp: [u64; 3],
    _reserved1: u64,
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    iomap_base: u16,
}

const TSS_ZERO: Tss = Tss {
    _reserved0: 0,
    rsp: [0; 3],
    _reserved1: 0,
    ist: [0; 7],
    _reserved2: 0,
    _reserved3: 0,
    iomap_base: 104,
};

/// One TSS per stack block; each CPU only touches its own.
static mut TSSES: [Tss; NSTACKS] = [TSS_ZERO; NSTACKS];

fn stacks_base() -> usize {
    addr_of!(stacks) as usize
}

/// Index of the calling CPU: which stack block its RSP is in (each CPU runs on its own
/// block, interrupts and the IST included).
pub fn cpu_index() -> usize {
    let rsp: usize;
    // SAFETY: reads RSP; no side effects.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    (rsp.wrapping_sub(stacks_base()) / PER_CPU).min(MAX_CPUS)
}

/// Loads this CPU's TSS (IST1 = the top of its block). Called once per CPU.
pub fn load_tss(cpu: usize) {
    let ist_top = stacks_base() + (cpu + 1) * PER_CPU;
    // SAFETY: each CPU writes only its own TSS and GDT slot, before loading it; the GDT
    // (boot.s, .data) has a 16-byte slot per stack block.
    unsafe {
        let tss = addr_of_mut!(TSSES[cpu]);
        (*tss).ist[0] = ist_top as u64;
        let base = tss as u64;
        let limit = (core::mem::size_of::<Tss>() - 1) as u64;
        let low = (limit & 0xffff)
            | (base & 0xff_ffff) << 16
            | 0x89 << 40 // present, 64-bit TSS (available)
            | (limit >> 16 & 0xf) << 48
            | (base >> 24 & 0xff) << 56;
        let slot = addr_of_mut!(gdt_tss) as *mut u64;
        slot.add(2 * cpu).write_volatile(low);
        slot.add(2 * cpu + 1).write_volatile(base >> 32);
        let sel = TSS_SELECTOR + 16 * cpu as u16;
        asm!("ltr {:x}", in(reg) sel, options(nostack, preserves_flags));
    }
}

/// Copies the AP trampoline below 1 MiB; returns its SIPI vector.
pub fn install_trampoline() -> u8 {
    // SAFETY: tramp_start..tramp_end is the trampoline's code in .rodata; TRAMPOLINE is
    // conventional memory the guest owns (doc/x86.md: the first region starts at 0; on
    // a PC 0x10000 is free low RAM) and holds nothing the guest still needs: the boot
    // information was copied out before this runs.
    unsafe {
        let start = addr_of!(tramp_start);
        let len = addr_of!(tramp_end) as usize - start as usize;
        core::ptr::copy_nonoverlapping(start, TRAMPOLINE as *mut u8, len);
    }
    (TRAMPOLINE >> 12) as u8
}

/// Chooses the stack and index of the next AP to start (`index` = [`MAX_CPUS`] for the
/// spare block: a CPU that must not start at all).
pub fn prepare_ap(index: usize) {
    let top = stacks_base() + index.min(MAX_CPUS) * PER_CPU + STACK_SIZE;
    AP_STACK_TOP.store(top as u64, Ordering::SeqCst);
    AP_INDEX.store(index as u64, Ordering::SeqCst);
}

/// Maps the 2 MiB page holding `addr` if it is at or above 4 GiB (the boot tables cover
/// only the low 4 GiB), uncached, through one spare PDPT and PD. A non-canonical address
/// is left alone: touching it raises #GP, which is what probing it should show.
pub fn map_high(addr: u64) -> Result<(), &'static str> {
    let canonical = matches!((addr as i64) >> 47, 0 | -1);
    if addr < 1 << 32 || !canonical {
        return Ok(());
    }
    let phys_bits = crate::cpu::cpuid(0x8000_0008, 0)[0] & 0xff;
    if addr >> phys_bits != 0 {
        return Err("beyond the physical address width: no identity mapping");
    }
    let (i4, i3, i2) = (
        (addr >> 39 & 511) as usize,
        (addr >> 30 & 511) as usize,
        (addr >> 21 & 511) as usize,
    );
    // SAFETY: only vCPU 0 calls this (the probe behaviour), before touching `addr`; the
    // spare tables are the guest's own .bss pages, identity-mapped; INVLPG drops any
    // stale entry.
    unsafe {
        let pml4p = addr_of_mut!(pml4) as *mut u64;
        let pdptp = addr_of_mut!(pdpt_high) as *mut u64;
        let pdp = addr_of_mut!(pd_high) as *mut u64;
        let want4 = pdptp as u64 | 3;
        match pml4p.add(i4).read_volatile() {
            0 => pml4p.add(i4).write_volatile(want4),
            e if e == want4 => {}
            _ if i4 == 0 => {
                // The low 512 GiB: the boot PDPT is there; use its free slot.
                let boot_pdpt = (pml4p.read_volatile() & !0xfff) as *mut u64;
                return map_in_pdpt(boot_pdpt, i3, i2, addr, pdp);
            }
            _ => return Err("the spare page tables are in use"),
        }
        map_in_pdpt(pdptp, i3, i2, addr, pdp)
    }
}

/// # Safety
/// `pdpt` and `pd` are identity-mapped page tables of this guest.
unsafe fn map_in_pdpt(
    pdpt: *mut u64,
    i3: usize,
    i2: usize,
    addr: u64,
    pd: *mut u64,
) -> Result<(), &'static str> {
    let want3 = pd as u64 | 3;
    // SAFETY: forwarded from the caller; entries are written before the access.
    unsafe {
        match pdpt.add(i3).read_volatile() {
            0 => pdpt.add(i3).write_volatile(want3),
            e if e == want3 => {}
            _ => return Err("the spare page tables are in use"),
        }
        // P | RW | PWT | PCD | PS: uncached, like the 4th GiB.
        pd.add(i2).write_volatile(addr & !0x1f_ffff | 0x9b);
        asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags));
    }
    Ok(())
}

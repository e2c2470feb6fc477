//! The hypervisor's own EL2 translation: an identity map in 1 GiB blocks.
//!
//! VA = PA over the first 512 GiB (TCR_EL2.T0SZ = 25, lookup from level 1, Arm ARM
//! D8.2). A gigabyte that holds platform RAM is Normal write-back memory; every other
//! gigabyte is Device-nGnRE and never executable. Guest memory is reached through the
//! same map when the hypervisor loads images; partitions never see these tables.

use core::arch::asm;

use bulkhead_core::addr::{HostPhysAddr, Range};

const GIB: u64 = 1 << 30;
const ENTRIES: usize = 512;

/// MAIR_EL2: attribute 0 Device-nGnRE, attribute 1 Normal inner/outer write-back.
const MAIR: u64 = 0x04 | (0xff << 8);
const BLOCK: u64 = 0b01;
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const SH_INNER: u64 = 0b11 << 8;
const AF: u64 = 1 << 10;
const XN: u64 = 1 << 54;
/// TCR_EL2: T0SZ = 25, inner/outer write-back write-allocate, inner shareable, 4 KiB
/// granule, RES1 bits 31 and 23; PS is filled from ID_AA64MMFR0_EL1.PARange.
const TCR: u64 = 25 | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) | (1 << 31) | (1 << 23);
/// SCTLR_EL2: RES1 bits, M (MMU), C (data cache), I (instruction cache).
const SCTLR: u64 = 0x30C5_0830 | 1 | (1 << 2) | (1 << 12);

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

static mut TABLE: Table = Table([0; ENTRIES]);

/// Fills the identity map: Normal where `ram` lies, Device elsewhere.
///
/// # Safety
/// Call once on the boot CPU before any CPU enables its MMU with [`enable`].
pub unsafe fn build(ram: &[Range<HostPhysAddr>]) {
    // SAFETY: the caller guarantees no CPU uses the table yet and no one else writes it.
    let table = unsafe { &mut *core::ptr::addr_of_mut!(TABLE) };
    let block = |i: usize, attrs: u64| (i as u64 * GIB) | attrs | AF | BLOCK;
    for (i, entry) in table.0.iter_mut().enumerate() {
        *entry = block(i, ATTR_DEVICE | XN);
    }
    // Then every gigabyte some RAM overlaps.
    for r in ram {
        let (first, last) = ((r.start.as_u64() / GIB) as usize, (r.last().as_u64() / GIB) as usize);
        for (i, entry) in table.0.iter_mut().enumerate().take(last + 1).skip(first) {
            *entry = block(i, ATTR_NORMAL | SH_INNER);
        }
    }
}

/// Turns on this CPU's EL2 MMU and caches with the identity map.
///
/// # Safety
/// [`build`] must have completed; the code and stack in use must be identity-mapped
/// (they are: VA = PA everywhere).
pub unsafe fn enable() {
    let table = core::ptr::addr_of!(TABLE) as u64;
    // SAFETY: switching on an identity map changes no address in use; the barriers
    // order the table writes and TLB invalidation before the MMU is on.
    unsafe {
        let mmfr0: u64;
        asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0);
        let tcr = TCR | ((mmfr0 & 0x7).min(0b101) << 16);
        asm!(
            "dsb ish",
            "msr mair_el2, {mair}",
            "msr tcr_el2, {tcr}",
            "msr ttbr0_el2, {table}",
            "isb",
            "tlbi alle2",
            "dsb ish",
            "isb",
            "msr sctlr_el2, {sctlr}",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) tcr,
            table = in(reg) table,
            sctlr = in(reg) SCTLR,
        );
    }
}

//! GICv3: distributor enable, this vCPU's redistributor, system-register CPU interface.
//!
//! Register offsets and bits follow the GICv3/v4 Architecture Specification (IHI 0069),
//! chapter 12.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::{say, timer};

/// `GICD_CTLR`.
const GICD_CTLR: usize = 0x0;
/// `GICD_CTLR.RWP`: register write pending.
const CTLR_RWP: u32 = 1 << 31;
/// `GICD_CTLR.ARE_NS` (bit 4; `ARE` with a single security state).
const CTLR_ARE_NS: u32 = 1 << 4;
/// `GICD_CTLR.EnableGrp1NS` (bit 1; `EnableGrp1` with a single security state).
const CTLR_ENABLE_GRP1NS: u32 = 1 << 1;

/// `GICR_TYPER` (64-bit, read as two 32-bit halves).
const GICR_TYPER: usize = 0x8;
/// `GICR_TYPER.Last`: the last frame of the region.
const TYPER_LAST: u32 = 1 << 4;
/// `GICR_TYPER.VLPIS`: GICv4 frames are twice as large.
const TYPER_VLPIS: u32 = 1 << 1;
/// `GICR_WAKER`.
const GICR_WAKER: usize = 0x14;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The SGI/PPI frame follows the RD frame.
const SGI_FRAME: usize = 0x1_0000;
const GICR_IGROUPR0: usize = 0x80;
const GICR_ISENABLER0: usize = 0x100;
const GICR_IPRIORITYR: usize = 0x400;
/// Distributor registers for SPIs (IHI 0069 12.9).
const GICD_IGROUPR: usize = 0x80;
const GICD_ISENABLER: usize = 0x100;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ICFGR: usize = 0xc00;
const GICD_IROUTER: usize = 0x6000;

pub use crate::timer::VTIMER_INTID;
/// Priority given to the timer PPI (any value below the 0xff mask).
const PRIORITY: u32 = 0x80;
/// First special INTID (1020–1023: spurious and friends).
const SPECIAL_INTID: u32 = 1020;
/// Polls before giving up on RWP or ChildrenAsleep.
const POLL_LIMIT: usize = 1_000_000;
/// SGIs and PPIs: the INTIDs a redistributor holds, and those [`set_handler`] takes.
const PRIVATE_INTIDS: usize = 32;

/// Handler of each SGI/PPI (a `fn(u32)` as usize; 0: none). The virtual timer's default
/// handler is the heartbeat ([`timer::on_tick`]); the physical timer's too once the
/// heartbeat runs on it.
static HANDLERS: [AtomicUsize; PRIVATE_INTIDS] = [const { AtomicUsize::new(0) }; PRIVATE_INTIDS];
/// Handler of every SPI (a `fn(u32, u64)` as usize; 0: none): it gets the INTID and the
/// acknowledge value and ends the interrupt itself ([`end`]), in the order it chooses.
static SPI_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// IRQ exceptions whose acknowledge returned a special INTID (1020–1023): nothing left
/// to take by then.
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// Turns on affinity routing and Group 1 in the distributor (ARE first: IHI 0069 12.9.4).
pub fn init_distributor(gicd: usize) {
    for bit in [CTLR_ARE_NS, CTLR_ENABLE_GRP1NS] {
        let ctlr = read32(gicd + GICD_CTLR);
        write32(gicd + GICD_CTLR, ctlr | bit);
        if !poll(|| read32(gicd + GICD_CTLR) & CTLR_RWP == 0) {
            say!("FAIL gicd rwp stuck");
        }
    }
}

/// Wakes this vCPU's redistributor, enables the heartbeat timer's PPI in Group 1 and the
/// system-register CPU interface.
pub fn init_cpu(gicr_base: usize, gicr_size: usize) -> Result<(), &'static str> {
    let rd = find_redistributor(gicr_base, gicr_size).ok_or("no redistributor matches MPIDR")?;
    let waker = read32(rd + GICR_WAKER);
    write32(rd + GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
    if !poll(|| read32(rd + GICR_WAKER) & WAKER_CHILDREN_ASLEEP == 0) {
        return Err("redistributor stays asleep");
    }
    enable_in(rd, timer::intid());
    init_cpu_interface();
    Ok(())
}

/// Enables SGI or PPI `intid` (below 32) in Group 1 in this vCPU's redistributor, after
/// [`init_cpu`]. Give it a handler first ([`set_handler`]): the rest are unexpected.
pub fn enable_private(gicr_base: usize, gicr_size: usize, intid: u32) -> Result<(), &'static str> {
    if intid as usize >= PRIVATE_INTIDS {
        return Err("not an SGI or PPI");
    }
    let rd = find_redistributor(gicr_base, gicr_size).ok_or("no redistributor matches MPIDR")?;
    enable_in(rd, intid);
    Ok(())
}

/// Group 1, priority [`PRIORITY`], enabled: SGI/PPI `intid` in redistributor `rd`.
fn enable_in(rd: usize, intid: u32) {
    let sgi = rd + SGI_FRAME;
    let bit = 1 << intid;
    write32(sgi + GICR_IGROUPR0, read32(sgi + GICR_IGROUPR0) | bit);
    // Word access to IPRIORITYR: byte lanes are allowed but not every emulator has them.
    let prio = sgi + GICR_IPRIORITYR + (intid as usize & !3);
    let shift = (intid % 4) * 8;
    let old = read32(prio) & !(0xff << shift);
    write32(prio, old | PRIORITY << shift);
    write32(sgi + GICR_ISENABLER0, bit);
}

/// Makes `handler(intid)` handle SGI or PPI `intid` (below 32) on every vCPU, replacing
/// the default (the heartbeat for the virtual timer, `FAIL unexpected interrupt` else).
pub fn set_handler(intid: u32, handler: fn(u32)) {
    if let Some(slot) = HANDLERS.get(intid as usize) {
        slot.store(handler as usize, Ordering::SeqCst);
    }
}

fn handler(intid: u32) -> Option<fn(u32)> {
    let raw = HANDLERS.get(intid as usize)?.load(Ordering::SeqCst);
    // SAFETY: a non-zero slot only ever holds a `fn(u32)` stored by set_handler.
    (raw != 0).then(|| unsafe { core::mem::transmute::<usize, fn(u32)>(raw) })
}

/// Makes `handler(intid, iar)` handle every SPI; it must end each one with [`end`].
pub fn set_spi_handler(handler: fn(u32, u64)) {
    SPI_HANDLER.store(handler as usize, Ordering::SeqCst);
}

/// Ends (priority drop and deactivation, EOImode 0) the interrupt acknowledged as `iar`.
pub fn end(iar: u64) {
    // SAFETY: writes ICC_EOIR1_EL1 with a value ICC_IAR1_EL1 returned: ends that interrupt.
    unsafe { asm!("msr icc_eoir1_el1, {}", in(reg) iar, options(nomem, nostack)) };
}

/// IRQ exceptions so far that found only a special INTID to acknowledge.
pub fn spurious() -> u64 {
    SPURIOUS.load(Ordering::SeqCst)
}

/// Configures SPI `intid` in distributor `gicd`: Group 1, priority [`PRIORITY`],
/// level-sensitive, routed to this vCPU, enabled. Give it a handler first
/// ([`set_spi_handler`]).
pub fn enable_spi(gicd: usize, intid: u32) {
    let (word, bit) = (4 * (intid as usize / 32), 1u32 << (intid % 32));
    write32(
        gicd + GICD_IGROUPR + word,
        read32(gicd + GICD_IGROUPR + word) | bit,
    );
    let prio = gicd + GICD_IPRIORITYR + (intid as usize & !3);
    let shift = (intid % 4) * 8;
    write32(prio, read32(prio) & !(0xff << shift) | PRIORITY << shift);
    let cfg = gicd + GICD_ICFGR + 4 * (intid as usize / 16);
    write32(cfg, read32(cfg) & !(2 << (2 * (intid % 16))));
    let aff = mpidr_affinity();
    let route = gicd + GICD_IROUTER + 8 * intid as usize;
    write32(route, aff & 0x00ff_ffff);
    write32(route + 4, aff >> 24);
    write32(gicd + GICD_ISENABLER + word, bit);
}

/// Walks the redistributor frames until `GICR_TYPER.Affinity_Value` equals ours.
fn find_redistributor(base: usize, size: usize) -> Option<usize> {
    let me = mpidr_affinity();
    let mut frame = base;
    loop {
        if size != 0 && frame >= base + size {
            return None;
        }
        let lo = read32(frame + GICR_TYPER);
        if read32(frame + GICR_TYPER + 4) == me {
            return Some(frame);
        }
        if lo & TYPER_LAST != 0 {
            return None;
        }
        frame += if lo & TYPER_VLPIS != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
}

/// `MPIDR_EL1` affinity packed as in `GICR_TYPER[63:32]`: Aff3.Aff2.Aff1.Aff0.
fn mpidr_affinity() -> u32 {
    let mpidr: u64;
    // SAFETY: reads MPIDR_EL1; no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack, preserves_flags)) };
    ((mpidr >> 8 & 0xff00_0000) | (mpidr & 0x00ff_ffff)) as u32
}

fn init_cpu_interface() {
    // SAFETY: ICC_SRE_EL1.SRE=1 selects the system-register interface; PMR lets all
    // priorities through, BPR1=0, EOImode=0 (EOIR also deactivates), Group 1 on.
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1",
            "orr {t}, {t}, #1",
            "msr icc_sre_el1, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr icc_pmr_el1, {t}",
            "msr icc_bpr1_el1, xzr",
            "mrs {t}, icc_ctlr_el1",
            "bic {t}, {t}, #2",
            "msr icc_ctlr_el1, {t}",
            "mov {t}, #1",
            "msr icc_igrpen1_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Acknowledges one Group 1 interrupt, handles it, and ends it. An interrupt without a
/// handler was never enabled by the guest: it prints `FAIL unexpected interrupt <intid>`.
pub fn handle_irq() {
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority pending interrupt.
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nomem, nostack)) };
    let intid = (iar & 0xff_ffff) as u32;
    if intid >= SPECIAL_INTID {
        SPURIOUS.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let spi = SPI_HANDLER.load(Ordering::SeqCst);
    if intid >= PRIVATE_INTIDS as u32 && spi != 0 {
        // SAFETY: a non-zero SPI_HANDLER only ever holds a `fn(u32, u64)` (set_spi_handler).
        let spi = unsafe { core::mem::transmute::<usize, fn(u32, u64)>(spi) };
        return spi(intid, iar);
    }
    match (handler(intid), intid) {
        (Some(handler), _) => handler(intid),
        (None, i) if i == timer::intid() => timer::on_tick(),
        (None, other) => say!("FAIL unexpected interrupt {}", other),
    }
    end(iar);
}

/// Unmasks IRQs on this vCPU.
pub fn enable_irqs() {
    // SAFETY: clears PSTATE.I; the vectors and the GIC are set up before any caller.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
}

fn poll(mut done: impl FnMut() -> bool) -> bool {
    (0..POLL_LIMIT).any(|_| done())
}

fn read32(addr: usize) -> u32 {
    // SAFETY: `addr` is a GIC register inside the regions the device tree gave us.
    unsafe { crate::mmio::read32(addr) }
}

fn write32(addr: usize, value: u32) {
    // SAFETY: as in read32: a GIC register inside the DT's regions.
    unsafe { crate::mmio::write32(addr, value) }
}

//! `test=gicd-foreign foreign=<intid>`: programs an SPI the partition does not own
//! through its emulated distributor, then reads every register back. The distributor
//! must show none of it: every field of a foreign INTID reads as 0 (IHI 0069 12.9; a
//! partition's GICD only has its own SPIs).

use crate::args::Args;
use crate::platform::Platform;
use crate::{say, timer};

const GICD_TYPER: usize = 0x0004;
const GICD_ISENABLER: usize = 0x0100;
const GICD_ISPENDR: usize = 0x0200;
const GICD_ISACTIVER: usize = 0x0300;
const GICD_IPRIORITYR: usize = 0x0400;
const GICD_ICFGR: usize = 0x0c00;
const GICD_IROUTER: usize = 0x6000;
/// `GICD_TYPER.ITLinesNumber`: SPI lines = 32 × (N + 1), INTIDs 32..that.
const TYPER_ITLINES: u32 = 0x1f;
/// Priority written: higher than anything a guest normally uses.
const HOSTILE_PRIORITY: u32 = 0x10;
/// `GICD_IROUTER` low word written: 1-of-N routing (IRM).
const ROUTE_IRM: u32 = 1 << 31;
/// `GICD_IROUTER` high word written: Aff3 = 1.
const ROUTE_AFF3: u32 = 1;

/// Runs the attempt on `vCPU 0` after `after` heartbeats; PASS/FAIL per register.
pub fn run(plat: &Platform, args: &Args) {
    let Some(intid) = args.foreign else {
        say!("FAIL gicd-foreign needs foreign=<intid>");
        return;
    };
    let gicd = plat.gicd;
    let lines = 32 * ((read(gicd + GICD_TYPER) & TYPER_ITLINES) + 1);
    if !(32..lines.min(1020)).contains(&intid) {
        say!("FAIL gicd-foreign {} is not an SPI below {}", intid, lines);
        return;
    }
    timer::wait_beats(args.after);
    say!(
        "gicd-foreign {} programming through GICD {:#x}",
        intid,
        gicd
    );
    let word = 4 * (intid as usize / 32);
    let bit = 1u32 << (intid % 32);
    let prio = gicd + GICD_IPRIORITYR + (intid as usize & !3);
    let prio_shift = 8 * (intid % 4);
    let cfg = gicd + GICD_ICFGR + 4 * (intid as usize / 16);
    let edge = 2u32 << (2 * (intid % 16));
    let route = gicd + GICD_IROUTER + 8 * intid as usize;

    // Enable first, then pending and active: leaked, the interrupt would fire at its owner.
    write(gicd + GICD_ISENABLER + word, bit);
    write(gicd + GICD_ISPENDR + word, bit);
    write(gicd + GICD_ISACTIVER + word, bit);
    write(
        prio,
        read(prio) & !(0xff << prio_shift) | HOSTILE_PRIORITY << prio_shift,
    );
    write(cfg, read(cfg) | edge);
    write(route, ROUTE_IRM);
    write(route + 4, ROUTE_AFF3);

    let checks = [
        ("isenabler", read(gicd + GICD_ISENABLER + word) & bit),
        ("ispendr", read(gicd + GICD_ISPENDR + word) & bit),
        ("isactiver", read(gicd + GICD_ISACTIVER + word) & bit),
        ("ipriorityr", (read(prio) >> prio_shift) & 0xff),
        ("icfgr", read(cfg) & edge),
        ("irouter low", read(route)),
        ("irouter high", read(route + 4)),
    ];
    let mut failed = false;
    for (what, value) in checks {
        if value == 0 {
            say!("PASS gicd-foreign {} {} reads 0", intid, what);
        } else {
            say!("FAIL gicd-foreign {} {} reads {:#x}", intid, what, value);
            failed = true;
        }
    }
    if !failed {
        say!("PASS gicd-foreign {} untouched", intid);
    }
}

fn read(addr: usize) -> u32 {
    // SAFETY: a register of the partition's (emulated) distributor, from the DT.
    unsafe { crate::mmio::read32(addr) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: as in read: the hypervisor emulates the whole GICD frame.
    unsafe { crate::mmio::write32(addr, value) }
}

//! `test=sgi-foreign`: SGIs through `ICC_SGI1R_EL1` aimed everywhere but at this vCPU
//! (all-but-self, other clusters, target-list bits beyond the partition's vCPUs) must
//! reach nobody; one aimed at this vCPU must arrive exactly once. The neighbours check
//! their side: any interrupt they did not enable prints `FAIL unexpected interrupt`.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::args::Args;
use crate::platform::Platform;
use crate::{gic, say, timer};

/// SGIs received, by INTID.
static RECEIVED: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];

/// `ICC_SGI1R_EL1` fields (IHI 0069 12.2.20).
const fn sgi1r(intid: u64, aff3: u64, aff2: u64, aff1: u64, rs: u64, targets: u64) -> u64 {
    (aff3 << 48) | (rs << 44) | (aff2 << 32) | (intid << 24) | (aff1 << 16) | targets
}
/// `ICC_SGI1R_EL1.IRM`: every PE but the sender.
const IRM: u64 = 1 << 40;

/// Heartbeats to wait for delivery after sending.
const SETTLE_BEATS: u64 = 2;

fn on_sgi(intid: u32) {
    if let Some(count) = RECEIVED.get(intid as usize) {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sends the SGIs after `after` heartbeats, waits, and checks what arrived here.
pub fn run(plat: &Platform, args: &Args) {
    let own = (1u64 << plat.ncpus.min(16)) - 1;
    // Without range-selector support RS is RES0 (IHI 0069 12.2.20): the CPU interface may
    // read RS=1 as 0 and deliver to Aff0 = 0, this vCPU. It still must not leave.
    let rss = range_selector();
    let rs = if rss { 0..=0 } else { 0..=1 };
    // (what, SGI1R value, how many this vCPU, vCPU 0, may receive)
    let cases = [
        ("all-but-self irm", IRM | sgi1r(1, 0, 0, 0, 0, 0), 0..=0),
        ("aff1=1 targets=0x1", sgi1r(2, 0, 0, 1, 0, 1), 0..=0),
        ("aff2=1 targets=0x1", sgi1r(3, 0, 1, 0, 0, 1), 0..=0),
        ("aff3=1 targets=0x1", sgi1r(4, 1, 0, 0, 0, 1), 0..=0),
        ("rs=1 targets=0x1", sgi1r(5, 0, 0, 0, 1, 1), rs),
        (
            "targets beyond own vcpus",
            sgi1r(6, 0, 0, 0, 0, 0xffff & !own),
            0..=0,
        ),
        ("self targets=0x1", sgi1r(7, 0, 0, 0, 0, 1), 1..=1),
    ];
    for (_, value, _) in &cases {
        let intid = (*value >> 24 & 0xf) as u32;
        gic::set_handler(intid, on_sgi);
        if let Err(why) = gic::enable_private(plat.gicr.0, plat.gicr.1, intid) {
            say!("FAIL sgi-foreign enable sgi {}: {}", intid, why);
            return;
        }
    }
    timer::wait_beats(args.after);
    say!("sgi-foreign icc_ctlr_el1.rss={}", u8::from(rss));
    for (what, value, _) in &cases {
        say!("sgi-foreign sending {} sgi1r={:#x}", what, value);
        send(*value);
    }
    timer::wait_beats(timer::beats() + SETTLE_BEATS);
    for (what, value, expected) in &cases {
        let intid = (value >> 24 & 0xf) as usize;
        let got = RECEIVED[intid].load(Ordering::SeqCst);
        if expected.contains(&got) {
            say!("PASS sgi-foreign {} received {}", what, got);
        } else {
            say!(
                "FAIL sgi-foreign {} received {} expected {}..={}",
                what,
                got,
                expected.start(),
                expected.end()
            );
        }
    }
}

/// `ICC_CTLR_EL1.RSS`: targeted SGIs reach Aff0 values above 15 (RS is used).
fn range_selector() -> bool {
    let ctlr: u64;
    // SAFETY: reads this vCPU's (virtual) CPU interface control; no side effects.
    unsafe { asm!("mrs {}, icc_ctlr_el1", out(reg) ctlr, options(nomem, nostack)) };
    ctlr & (1 << 18) != 0
}

fn send(value: u64) {
    // SAFETY: ICC_SGI1R_EL1 writes trap to the hypervisor, which delivers virtual SGIs
    // inside the partition only; no memory is touched.
    unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack)) };
}

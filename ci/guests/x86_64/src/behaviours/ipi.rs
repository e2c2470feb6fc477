//! `test=ipi-foreign`: fixed IPIs to APIC ids beyond the guest's CPUs and with each
//! destination shorthand; counts what this CPU receives (no other CPU is started, so
//! only the cases that include the sender arrive: doc/x86.md, IPIs never leave the
//! partition).

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::apic::{self, ICR_FIXED, SH_ALL, SH_OTHERS, SH_SELF};
use crate::args::Args;
use crate::idt::{IPI_BASE, IPI_COUNT};
use crate::platform::Platform;
use crate::{say, timer};

/// Interrupts received per test vector.
static COUNTS: [AtomicU64; IPI_COUNT as usize] = [const { AtomicU64::new(0) }; IPI_COUNT as usize];
/// How long an IPI may take to arrive.
const SETTLE_MS: u64 = 20;

/// Handler of test vector `IPI_BASE + k`.
pub fn on_ipi(k: u8) {
    COUNTS[usize::from(k) % COUNTS.len()].fetch_add(1, SeqCst);
}

/// One IPI to send: destination id, shorthand, how many arrivals are right.
struct Case {
    what: &'static str,
    dest: u32,
    shorthand: u32,
    expect: u64,
}

/// Sends every case after `after` heartbeats and checks the counts.
pub fn run(plat: &Platform, args: &Args) {
    timer::wait_beats(args.after);
    let own = &plat.apic_ids[..plat.cpus()];
    let n = plat.ncpus as u32;
    let me = apic::id();
    let cases = [
        Case {
            what: "foreign id n",
            dest: n,
            shorthand: 0,
            expect: 0,
        },
        Case {
            what: "foreign id n+1",
            dest: n + 1,
            shorthand: 0,
            expect: 0,
        },
        Case {
            what: "foreign id 0x80",
            dest: 0x80,
            shorthand: 0,
            expect: 0,
        },
        Case {
            what: "all-excluding-self",
            dest: 0,
            shorthand: SH_OTHERS,
            expect: 0,
        },
        Case {
            what: "all-including-self",
            dest: 0,
            shorthand: SH_ALL,
            expect: 1,
        },
        Case {
            what: "self",
            dest: 0,
            shorthand: SH_SELF,
            expect: 1,
        },
        Case {
            what: "own id",
            dest: me,
            shorthand: 0,
            expect: 1,
        },
    ];
    let mut ok = true;
    for (k, case) in cases.iter().enumerate() {
        let foreign = case.shorthand == 0 && case.dest != me;
        if foreign && (own.contains(&case.dest) || (!apic::is_x2apic() && case.dest >= 0xff)) {
            say!(
                "SKIP ipi-foreign {}: id {:#x} is not foreign here",
                case.what,
                case.dest
            );
            continue;
        }
        let vector = IPI_BASE + k as u8;
        let icr = ICR_FIXED | case.shorthand | u32::from(vector);
        say!(
            "ipi-foreign sending {} dest={:#x} icr={:#x}",
            case.what,
            case.dest,
            icr
        );
        apic::send_ipi(case.dest, icr);
        timer::delay_ms(SETTLE_MS);
        let got = COUNTS[k].load(SeqCst);
        if got == case.expect {
            say!("PASS ipi-foreign {} received {}", case.what, got);
        } else {
            say!(
                "FAIL ipi-foreign {} received {} expected {}",
                case.what,
                got,
                case.expect
            );
            ok = false;
        }
    }
    if ok {
        say!("PASS ipi-foreign");
    }
}

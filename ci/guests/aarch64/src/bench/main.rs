//! `bench`: the benchmark guest of `cargo bh bench` (doc/bench.md).
//!
//! One bare-metal image that runs unchanged on bare QEMU and in a Bulkhead partition,
//! using only standard interfaces at fixed addresses (no device tree is read): PSCI over
//! SMC and HVC, the GICv3 at 0x08000000 / 0x080A0000, the EL1 virtual timer (PPI 27)
//! and the PL011 at 0x09000000. It measures, then prints one `BENCH <key>=<value>` line
//! per figure and `BENCH done`, and powers off with PSCI SYSTEM_OFF.
//!
//! | key | what |
//! |---|---|
//! | `entry_el` | exception level of the first instruction (2 on bare QEMU, 1 in a partition) |
//! | `cntfrq` | `CNTFRQ_EL0`; the figures are instructions only at 1 GHz with icount |
//! | `first_insn` | `CNTVCT_EL0` read by the very first instruction |
//! | `hvc_rt`, `smc_rt` | (1000 calls of PSCI_VERSION − the same loop without the call) / 1000 |
//! | `hvc_ret`, `smc_ret` | what PSCI_VERSION returned (proof the call was answered) |
//! | `vtimer_lat` | mean of counter at IRQ-vector entry − `CNTV_CVAL_EL0`, 16 samples after 2 warm-ups |
//! | `vtimer_lat_min`, `vtimer_lat_max` | extremes of those samples |
//! | `memwalk` | ticks to load one word from each 4 KiB page of 32 MiB |
//!
//! Averages print with three decimals (`191.000`), counts as integers.
#![no_std]
#![no_main]

mod entry;
mod measure;

use core::panic::PanicInfo;

use measure::Call;
use testguest::smccc::{self, Conduit, PSCI_SYSTEM_OFF};
use testguest::{console, gic, say, timer};

/// QEMU `virt`'s PL011 (passed through to the partition under Bulkhead).
const UART: usize = 0x0900_0000;
/// GICv3 distributor (emulated under Bulkhead, at the same address).
const GICD: usize = 0x0800_0000;
/// The redistributor of CPU 0 (RD and SGI frames).
const GICR: (usize, usize) = (0x080A_0000, 0x2_0000);

/// Rust entry: `first` = counter at the first instruction, `el` = the EL it ran at.
extern "C" fn bench_main(first: u64, el: u64) -> ! {
    console::set_base(UART);
    gic::init_distributor(GICD);
    if let Err(why) = gic::init_cpu(GICR.0, GICR.1) {
        say!("BENCH error gic: {}", why);
        power_off()
    }
    let base = measure::call_loop(Call::None).0;
    let (hvc, hvc_ret) = measure::call_loop(Call::Hvc);
    let (smc, smc_ret) = measure::call_loop(Call::Smc);
    let timer = timer_figures();
    let walk = measure::memory_walk();

    say!("BENCH entry_el={}", el);
    say!("BENCH cntfrq={}", timer::frequency());
    say!("BENCH first_insn={}", first);
    say!("BENCH hvc_rt={}", Milli(hvc.saturating_sub(base), measure::CALLS));
    say!("BENCH hvc_ret={:#x}", hvc_ret as u32);
    say!("BENCH smc_rt={}", Milli(smc.saturating_sub(base), measure::CALLS));
    say!("BENCH smc_ret={:#x}", smc_ret as u32);
    match timer {
        Ok((sum, min, max)) => {
            say!("BENCH vtimer_lat={}", Milli(sum, measure::TIMER_SAMPLES));
            say!("BENCH vtimer_lat_min={}", min);
            say!("BENCH vtimer_lat_max={}", max);
        }
        Err(intid) => say!("BENCH error vtimer: interrupt {} instead of the timer's", intid),
    }
    say!("BENCH memwalk={}", walk);
    say!("BENCH done");
    power_off()
}

/// Sum, minimum and maximum latency of the measured timer samples.
fn timer_figures() -> Result<(u64, u64, u64), u64> {
    for _ in 0..measure::TIMER_WARMUP {
        measure::timer_latency()?;
    }
    let (mut sum, mut min, mut max) = (0, u64::MAX, 0);
    for _ in 0..measure::TIMER_SAMPLES {
        let t = measure::timer_latency()?;
        sum += t;
        min = min.min(t);
        max = max.max(t);
    }
    Ok((sum, min, max))
}

/// `total / n` printed with three decimals, exactly (integer arithmetic).
struct Milli(u64, u64);

impl core::fmt::Display for Milli {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let milli = self.0 * 1000 / self.1;
        write!(f, "{}.{:03}", milli / 1000, milli % 1000)
    }
}

/// PSCI SYSTEM_OFF over SMC: bare QEMU exits, a Bulkhead partition halts.
fn power_off() -> ! {
    smccc::psci(Conduit::Smc, PSCI_SYSTEM_OFF, 0, 0, 0);
    say!("BENCH error system_off returned");
    loop {
        timer::wfi();
    }
}

/// An exception the benchmark never expects: report it and stop.
extern "C" fn unexpected(kind: u64, esr: u64, elr: u64) -> ! {
    say!("BENCH error exception {} esr={:#x} elr={:#x}", kind, esr, elr);
    power_off()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    say!("BENCH error panic: {}", info.message());
    power_off()
}

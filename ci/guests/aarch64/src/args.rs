//! `bootargs` parsing: `test=<name> key=value ...`; unknown keys are ignored.

/// Settings chosen by the bootargs.
#[derive(Clone, Copy)]
pub struct Args {
    /// Behaviour to run (`test=`), `heartbeat` by default.
    pub test: &'static str,
    /// Heartbeat period in milliseconds (`period_ms=`), 10 by default.
    pub period_ms: u64,
    /// Address the probe behaviour touches (`probe=<hex>`).
    pub probe: Option<u64>,
    /// Probe with a store instead of a load (`op=write`).
    pub probe_write: bool,
    /// Probe with an instruction fetch (`op=fetch`, `test=abort` only).
    pub probe_fetch: bool,
    /// Bad accesses `test=abort` makes (`count=`), 2 by default.
    pub count: u64,
    /// The heartbeat runs on the EL1 physical timer (`timer=phys`; `timer=virt` default).
    pub timer_phys: bool,
    /// Races of `test=psci-race` (`rounds=`), 5 by default.
    pub rounds: u64,
    /// Device events per EOI order of `test=level-irq` (`events=`), 4 by default.
    pub events: u64,
    /// Heartbeats before probing (`after=`), 3 by default.
    pub after: u64,
    /// Heartbeats before SYSTEM_RESET (`reset_after=`), 3 by default.
    pub reset_after: u64,
    /// Heartbeats before SYSTEM_OFF (`off_after=`), 3 by default.
    pub off_after: u64,
    /// An SPI the partition does not own, for `test=gicd-foreign` (`foreign=<intid>`).
    pub foreign: Option<u32>,
    /// Which undecodable access `test=odd-mmio` makes (`kind=`), `pair` by default.
    pub kind: &'static str,
    /// Interrupts between two `storm <k>` lines of `test=timer-storm` (`every=`).
    pub every: u64,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            test: "heartbeat",
            period_ms: 10,
            probe: None,
            probe_write: false,
            probe_fetch: false,
            count: 2,
            timer_phys: false,
            rounds: 5,
            events: 4,
            after: 3,
            reset_after: 3,
            off_after: 3,
            foreign: None,
            kind: "pair",
            every: 10_000,
        }
    }
}

/// Parses `bootargs`; on a malformed value returns the defaults-so-far and the
/// offending `key=value` word.
pub fn parse(bootargs: &'static str) -> (Args, Option<&'static str>) {
    let mut args = Args::default();
    let mut bad = None;
    for word in bootargs.split_ascii_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        if apply(&mut args, key, value).is_none() {
            bad = bad.or(Some(word));
        }
    }
    (args, bad)
}

/// Applies one `key=value`; `None` if the value does not parse.
fn apply(args: &mut Args, key: &str, value: &'static str) -> Option<()> {
    match key {
        "test" => args.test = value,
        "period_ms" => args.period_ms = dec(value).filter(|&ms| ms > 0)?,
        "probe" => args.probe = Some(hex(value)?),
        "op" => {
            (args.probe_write, args.probe_fetch) = match value {
                "read" => (false, false),
                "write" => (true, false),
                "fetch" => (false, true),
                _ => return None,
            }
        }
        "count" => args.count = dec(value).filter(|&n| n > 0)?,
        "timer" => {
            args.timer_phys = match value {
                "virt" => false,
                "phys" => true,
                _ => return None,
            }
        }
        "rounds" => args.rounds = dec(value).filter(|&n| n > 0)?,
        "events" => args.events = dec(value).filter(|&n| n > 0)?,
        "after" => args.after = dec(value)?,
        "reset_after" => args.reset_after = dec(value)?,
        "off_after" => args.off_after = dec(value)?,
        "foreign" => args.foreign = Some(u32::try_from(dec(value)?).ok()?),
        "kind" => args.kind = value,
        "every" => args.every = dec(value).filter(|&n| n > 0)?,
        _ => {}
    }
    Some(())
}

fn dec(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn hex(s: &str) -> Option<u64> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(digits, 16).ok()
}

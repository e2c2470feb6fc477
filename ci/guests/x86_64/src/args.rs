//! Command-line parsing: `test=<name> key=value ...`; unknown keys (and words without
//! `=`, such as the kernel's path in a GRUB command line) are ignored.

/// Settings chosen by the command line.
#[derive(Clone, Copy)]
pub struct Args {
    /// Behaviour to run (`test=`), `heartbeat` by default.
    pub test: &'static str,
    /// Heartbeat period in milliseconds (`period_ms=`), 10 by default.
    pub period_ms: u64,
    /// Address the probe behaviour touches (`probe=<hex>`).
    pub probe: Option<u64>,
    /// Port the ioprobe behaviour touches (`port=<hex>`).
    pub port: Option<u16>,
    /// Probe with a store / OUT instead of a load / IN (`op=write` or `op=out`).
    pub write: bool,
    /// Bytes of the ioprobe access (`width=1|2|4`), 4 by default.
    pub width: u8,
    /// Heartbeats before probing (`after=`), 3 by default.
    pub after: u64,
    /// Heartbeats before the reset (`reset_after=`), 3 by default.
    pub reset_after: u64,
    /// Heartbeats before powering off (`off_after=`), 3 by default.
    pub off_after: u64,
    /// The I/O APIC pin `test=ioapic-listen` unmasks (`pin=`, decimal), 3 by default.
    pub pin: u32,
    /// `test=com2-irq` programs its I/O APIC pin level-triggered (`trigger=level`)
    /// instead of edge-triggered (`trigger=edge`, the default).
    pub level: bool,
    /// Which Bochs backdoor `test=backdoor` tries (`door=magic|e9|shutdown`).
    pub door: &'static str,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            test: "heartbeat",
            period_ms: 10,
            probe: None,
            port: None,
            write: false,
            width: 4,
            after: 3,
            reset_after: 3,
            off_after: 3,
            pin: 3,
            level: false,
            door: "magic",
        }
    }
}

/// Parses the command line; on a malformed value returns the defaults-so-far and the
/// offending `key=value` word.
pub fn parse(cmdline: &'static str) -> (Args, Option<&'static str>) {
    let mut args = Args::default();
    let mut bad = None;
    for word in cmdline.split_ascii_whitespace() {
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
        "port" => args.port = Some(u16::try_from(hex(value)?).ok()?),
        "op" => {
            args.write = match value {
                "read" | "in" => false,
                "write" | "out" => true,
                _ => return None,
            }
        }
        "width" => {
            args.width = match value {
                "1" => 1,
                "2" => 2,
                "4" => 4,
                _ => return None,
            }
        }
        "after" => args.after = dec(value)?,
        "reset_after" => args.reset_after = dec(value)?,
        "off_after" => args.off_after = dec(value)?,
        "pin" => args.pin = dec(value).filter(|&p| p < 24)? as u32,
        "trigger" => {
            args.level = match value {
                "edge" => false,
                "level" => true,
                _ => return None,
            }
        }
        "door" => {
            args.door = match value {
                "magic" | "e9" | "shutdown" => value,
                _ => return None,
            }
        }
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

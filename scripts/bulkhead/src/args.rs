//! A small argument parser: positionals, `--flag`, `--option VALUE` and `-- rest`.

use crate::error::{Error, Result};

/// What one command accepts.
pub struct Spec {
    /// Command name, for messages.
    pub command: &'static str,
    /// Positional argument names (all optional past `required`).
    pub positionals: &'static [&'static str],
    /// How many positionals must be given.
    pub required: usize,
    /// Boolean flags, e.g. `--host-only`.
    pub flags: &'static [&'static str],
    /// Options taking a value; a one-letter alias is written `"-o|--out"`.
    pub options: &'static [&'static str],
    /// Whether arguments after `--` are accepted (and passed on verbatim).
    pub rest: bool,
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    positionals: Vec<String>,
    flags: Vec<&'static str>,
    options: Vec<(&'static str, String)>,
    /// Arguments after `--`.
    pub rest: Vec<String>,
}

impl Args {
    /// Parses `argv` (without the command name) against `spec`.
    pub fn parse(spec: &Spec, argv: &[String]) -> Result<Self> {
        let mut args = Args::default();
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            if arg == "--" && spec.rest {
                args.rest = it.by_ref().cloned().collect();
            } else if let Some(flag) = find(spec.flags, arg) {
                args.flags.push(flag);
            } else if let Some(option) = find(spec.options, arg) {
                let value = it
                    .next()
                    .ok_or_else(|| usage(spec, &format!("{arg} needs a value")))?;
                args.options.push((option, value.clone()));
            } else if arg.starts_with('-') && arg.len() > 1 {
                return Err(usage(spec, &format!("unknown option {arg}")));
            } else if args.positionals.len() < spec.positionals.len() {
                args.positionals.push(arg.clone());
            } else {
                return Err(usage(spec, &format!("unexpected argument `{arg}`")));
            }
        }
        if args.positionals.len() < spec.required {
            let missing = spec.positionals[args.positionals.len()];
            return Err(usage(spec, &format!("missing <{missing}>")));
        }
        Ok(args)
    }

    /// Positional number `index`, if given.
    pub fn positional(&self, index: usize) -> Option<&str> {
        self.positionals.get(index).map(String::as_str)
    }

    /// Whether flag `name` (its long form) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| long(f) == name)
    }

    /// The value of option `name` (its long form); the last one wins.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(o, _)| long(o) == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The spec entry matching `arg` (`"-o|--out"` matches `-o` and `--out`).
fn find(entries: &[&'static str], arg: &str) -> Option<&'static str> {
    entries
        .iter()
        .copied()
        .find(|e| e.split('|').any(|alias| alias == arg))
}

/// The long form of a spec entry.
fn long(entry: &str) -> &str {
    entry.rsplit('|').next().unwrap_or(entry)
}

fn usage(spec: &Spec, what: &str) -> Error {
    Error::new(format!(
        "cargo bh {}: {what} (see `cargo bh help`)",
        spec.command
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        command: "image",
        positionals: &["board"],
        required: 1,
        flags: &["--verbose"],
        options: &["--config", "-o|--out"],
        rest: true,
    };

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_positionals_flags_options_and_rest() {
        let args = Args::parse(
            &SPEC,
            &argv("b --config c.dts -o x.img --verbose -- -s -d int"),
        )
        .unwrap();
        assert_eq!(args.positional(0), Some("b"));
        assert_eq!(args.option("--config"), Some("c.dts"));
        assert_eq!(args.option("--out"), Some("x.img"));
        assert!(args.flag("--verbose"));
        assert_eq!(args.rest, argv("-s -d int"));
    }

    #[test]
    fn rejects_what_the_command_does_not_take() {
        let err = |s: &str| Args::parse(&SPEC, &argv(s)).unwrap_err().to_string();
        assert!(err("").contains("missing <board>"));
        assert!(err("b --bogus").contains("unknown option --bogus"));
        assert!(err("b c").contains("unexpected argument `c`"));
        assert!(err("b --config").contains("--config needs a value"));
    }
}

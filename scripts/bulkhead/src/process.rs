//! Child processes: cargo, dtc, rust-objcopy, QEMU, with errors that say what to install.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::error::{Error, Result};
use crate::repo;

/// A `cargo` command run at the repository root, building into the workspace `target/`
/// whatever `CARGO_TARGET_DIR` the caller has set.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo::root())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    cmd
}

/// Runs `cmd` with inherited stdio; fails unless it exits 0.
pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().map_err(|e| spawn_error(cmd, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("{what} failed ({status})")))
    }
}

/// Runs `cmd` and captures its output, whatever its exit status.
pub fn capture(cmd: &mut Command) -> Result<Output> {
    cmd.output().map_err(|e| spawn_error(cmd, e))
}

/// The message for a command that could not even start.
pub fn spawn_error(cmd: &Command, err: io::Error) -> Error {
    let program = cmd.get_program().to_string_lossy().into_owned();
    if err.kind() == io::ErrorKind::NotFound {
        let hint = match program.as_str() {
            "dtc" => " (package device-tree-compiler)",
            p if p.starts_with("qemu-system-") => " (packages qemu-system-arm, qemu-system-x86)",
            _ => "",
        };
        Error::new(format!("{program} not found: run scripts/setup{hint}"))
    } else {
        Error::new(format!("cannot run {program}: {err}"))
    }
}

/// `rust-objcopy` from the toolchain's llvm-tools component (it is not on `PATH`).
pub fn objcopy() -> Result<PathBuf> {
    let sysroot = rustc_line(&["--print", "sysroot"], "")?;
    let host = rustc_line(&["-vV"], "host: ")?;
    let path = PathBuf::from(sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-objcopy");
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::new(format!(
            "{} not found: run scripts/setup (rustup component llvm-tools)",
            path.display()
        )))
    }
}

/// The first line of `rustc <args>` output starting with `prefix`, prefix removed.
fn rustc_line(args: &[&str], prefix: &str) -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = capture(Command::new(rustc).args(args))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|l| l.trim().to_string())
        .filter(|l| out.status.success() && !l.is_empty())
        .ok_or_else(|| {
            Error::new(format!(
                "rustc {} printed no `{prefix}` line",
                args.join(" ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_point_at_setup() {
        let cmd = Command::new("dtc");
        let err = spawn_error(&cmd, io::Error::from(io::ErrorKind::NotFound)).to_string();
        assert_eq!(
            err,
            "dtc not found: run scripts/setup (package device-tree-compiler)"
        );
    }

    #[test]
    fn objcopy_is_found_in_the_toolchain() {
        let path = objcopy().unwrap();
        assert!(path.ends_with("bin/rust-objcopy"));
    }
}

//! `cargo bh build`: the board's in-tree test guests and its hypervisor, as ELF and raw binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::progress;
use crate::board::Board;
use crate::cli::BoardArg;
use crate::error::{Context, Error, Result};
use crate::{guests, process, repo};

/// The hypervisor as built for a board.
pub struct Built {
    /// `target/bulkhead/<board>/bulkhead.elf`: for log decoding and debuggers.
    pub elf: PathBuf,
    /// `target/bulkhead/<board>/bulkhead.bin`: the raw binary that gets packed.
    pub bin: PathBuf,
}

/// `cargo bh build <board>`: prints the ELF's and the raw binary's paths.
pub fn run(args: &BoardArg) -> Result<ExitCode> {
    let board = super::board(&args.board)?;
    let built = build(&board)?;
    crate::out::print(&format!("{}\n{}\n", repo::show(&built.elf), repo::show(&built.bin)))?;
    Ok(ExitCode::SUCCESS)
}

/// Builds the guests of the board's architecture, then its hypervisor.
pub fn build(board: &Board) -> Result<Built> {
    let objcopy = process::objcopy()?;
    build_guests_with(board, &objcopy)?;
    build_hypervisor(board, &objcopy)
}

/// Builds the in-tree test guests of the board's architecture (`cargo bh check` needs
/// their sizes).
pub fn build_guests(board: &Board) -> Result<()> {
    build_guests_with(board, &process::objcopy()?)
}

/// Builds `ci/guests/<arch>` and writes each bin to `target/guests/<arch>/<bin>.bin`.
fn build_guests_with(board: &Board, objcopy: &Path) -> Result<()> {
    let dir = guests::guest_dir(&board.arch);
    if !dir.join("Cargo.toml").is_file() {
        progress(
            "build",
            format!("no in-tree test guests for {}", board.arch),
        );
        return Ok(());
    }
    let guest_crate = guests::crate_bins(&dir)?;
    let first = first_build(&board.guest_target, guest_crate.bins.first().map_or("", String::as_str));
    progress("build", format!("test guests: {}{first}", guest_crate.bins.join(", ")));
    cargo_build(&guest_crate.package, &board.guest_target)?;
    for bin in &guest_crate.bins {
        let elf = release_dir(&board.guest_target).join(bin);
        let out = guests::guest_image(&board.arch, bin, board.guest_elf);
        if board.guest_elf {
            copy_file(&elf, &out)?;
        } else {
            raw_binary(objcopy, &elf, &out)?;
        }
    }
    Ok(())
}

/// Builds the board's hypervisor package and copies it to `target/bulkhead/<board>/`.
fn build_hypervisor(board: &Board, objcopy: &Path) -> Result<Built> {
    let manifest = repo::show(&board.dir.join("Cargo.toml"));
    let hv_crate = guests::crate_bins(&board.dir)?;
    if hv_crate.package != board.package {
        return Err(Error::new(format!(
            "{}: package: `{}`, but {manifest} is package `{}`",
            repo::show(&board.dir.join("board.toml")),
            board.package,
            hv_crate.package
        )));
    }
    let [bin] = hv_crate.bins.as_slice() else {
        return Err(Error::new(format!(
            "{manifest}: expected exactly one binary, found {:?}",
            hv_crate.bins
        )));
    };
    let first = first_build(&board.target, bin);
    progress("build", format!("hypervisor: {}{first}", board.package));
    cargo_build(&board.package, &board.target)?;
    let out = repo::board_out(&board.name);
    let built = Built {
        elf: out.join("bulkhead.elf"),
        bin: out.join("bulkhead.bin"),
    };
    let elf = release_dir(&board.target).join(bin);
    std::fs::create_dir_all(&out).context(|| format!("cannot create {}", repo::show(&out)))?;
    std::fs::copy(&elf, &built.elf).context(|| {
        format!(
            "cannot copy {} to {}",
            repo::show(&elf),
            repo::show(&built.elf)
        )
    })?;
    raw_binary(objcopy, &built.elf, &built.bin)?;
    Ok(built)
}

/// `cargo build --release -p <package> --target <target>` into the workspace `target/`.
fn cargo_build(package: &str, target: &str) -> Result<()> {
    let mut cmd = process::cargo();
    cmd.args(["build", "--release", "-p", package, "--target", target]);
    process::run(&mut cmd, &format!("cargo build -p {package}"))
}

/// ` (first build: …)` when `bin` was never built for `target`, so that a minute of
/// compiling is announced; empty otherwise.
fn first_build(target: &str, bin: &str) -> &'static str {
    match release_dir(target).join(bin).is_file() {
        true => "",
        false => " (first build: its dependencies too, a minute or two)",
    }
}

/// Where cargo puts release binaries for `target`.
fn release_dir(target: &str) -> PathBuf {
    repo::target_dir().join(target).join("release")
}

/// `rust-objcopy -O binary elf out`.
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", repo::show(dir)))?;
    }
    std::fs::copy(from, to).context(|| format!("cannot copy {} to {}", repo::show(from), repo::show(to)))?;
    Ok(())
}

fn raw_binary(objcopy: &Path, elf: &Path, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", repo::show(dir)))?;
    }
    let mut cmd = std::process::Command::new(objcopy);
    cmd.args(["-O", "binary"]).arg(elf).arg(out);
    process::run(&mut cmd, &format!("rust-objcopy {}", repo::show(elf)))
}

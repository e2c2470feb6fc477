//! `cargo bh image`: check, build, then pack hypervisor + bundle into one bootable image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bulkhead_core::bundle::{BundleWriter, CONFIG_ENTRY};

use super::{build, check, progress};
use crate::board::Board;
use crate::cli::ImageArgs;
use crate::error::{self, Context, Error, Result};
use crate::board::ImageFormat;
use crate::{iso, map, pack, repo};

/// A packed image and the ELF to decode its logs with.
pub struct Made {
    /// The bootable image.
    pub image: PathBuf,
    /// The hypervisor ELF beside it.
    pub elf: PathBuf,
}

/// `cargo bh image`: prints the image's path.
pub fn run(args: &ImageArgs) -> Result<ExitCode> {
    let board = super::board(&args.board.board)?;
    let made = image(&board, args.config.as_deref(), args.out.clone())?;
    crate::out::line(repo::show(&made.image))?;
    Ok(ExitCode::SUCCESS)
}

/// Checks the config, builds everything and writes the image to `out` (default
/// `target/bulkhead/<board>/bulkhead.img`), with the hypervisor ELF beside it.
pub fn image(board: &Board, config: Option<&Path>, out: Option<PathBuf>) -> Result<Made> {
    let checked = check::check(board, config)?;
    progress(
        "check",
        format!("{}: valid", repo::show(&checked.config_file)),
    );
    let built = build::build(board)?;
    let mut writer = BundleWriter::new();
    writer
        .add(CONFIG_ENTRY, &checked.config_dtb)
        .context(|| format!("bundle entry {CONFIG_ENTRY}"))?;
    for (name, bytes) in &checked.extra {
        writer.add(name, bytes).context(|| format!("bundle entry {name}"))?;
    }
    for image in &checked.images {
        if !image.path().is_file() {
            return Err(Error::new(format!(
                "{}: not built (image `{}`)",
                repo::show(image.path()),
                image.name
            )));
        }
        let bytes = error::read(image.path())?;
        writer
            .add(&image.name, &bytes)
            .context(|| format!("bundle entry `{}`", image.name))?;
    }
    let bundle = writer.finish();
    let default_out = out.is_none();
    let what = match board.image_format {
        ImageFormat::Arm64Image => "arm64 Image",
        ImageFormat::GrubIso => "GRUB ISO (grub-mkrescue)",
    };
    progress("pack", format!("{what}: hypervisor + bundle of {}", map::approx_size(bundle.len() as u64)));
    let (image, hypervisor_size) = match board.image_format {
        ImageFormat::Arm64Image => {
            let hypervisor = error::read(&built.bin)?;
            let packed = pack::pack(&hypervisor, &bundle).context(|| repo::show(&built.bin))?;
            let image = out.unwrap_or_else(|| repo::board_out(&board.name).join("bulkhead.img"));
            error::write(&image, &packed.bytes)?;
            (image, packed.bundle_offset as u64)
        }
        ImageFormat::GrubIso => {
            let image = out.unwrap_or_else(|| repo::board_out(&board.name).join("bulkhead.iso"));
            iso::write(&built.elf, &bundle, &image)?;
            (image, std::fs::metadata(&built.bin).map(|m| m.len()).unwrap_or(0))
        }
    };
    let elf = if default_out {
        built.elf
    } else {
        let beside = image.with_extension("elf");
        std::fs::copy(&built.elf, &beside)
            .context(|| format!("cannot copy the ELF to {}", repo::show(&beside)))?;
        beside
    };
    progress(
        "pack",
        format!(
            "{}: hypervisor {} (with .bss), bundle {} (config + {} image{})",
            repo::show(&image),
            map::size(hypervisor_size),
            map::size(bundle.len() as u64),
            checked.images.len(),
            if checked.images.len() == 1 { "" } else { "s" }
        ),
    );
    Ok(Made { image, elf })
}

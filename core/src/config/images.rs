//! The config against its images and the hypervisor's own needs: what the boot path
//! would refuse once it has the bytes in hand, checked first on the host.
//!
//! The CLI runs [`check_boot`] with the image files, the hypervisor with the bundle's
//! entries; both get the same placements and the same error lines.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::{hpa_range, ConfigError};
use super::model::{Config, Partition};
use super::target::{BootImages, Placement, Target};
use crate::dt::Quoted;
use crate::stage2::partition_regions;

/// Check on the host that every image a partition names exists: `exists` is asked
/// with the name exactly as the config writes it (the CLI resolves it; see
/// doc/config.md).
pub fn check_images(config: &Config, exists: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
    for partition in &config.partitions {
        for (property, name) in image_names(partition) {
            if !exists(name) {
                let reason = format!("file {name} not found", name = Quoted(name));
                return Err(ConfigError::property(&partition.node, property, reason));
            }
        }
    }
    Ok(())
}

/// The `(property, name)` of every image `p` names: kernel, then initrd and dtb.
fn image_names(p: &Partition) -> impl Iterator<Item = (&'static str, &str)> {
    let boot = &p.boot;
    [("kernel", Some(&boot.kernel)), ("initrd", boot.initrd.as_ref()), ("dtb", boot.dtb.as_ref())]
        .into_iter()
        .filter_map(|(property, name)| Some((property, name.as_ref()?.as_str())))
}

/// Everything about a validated `config` that needs the images' bytes or the build's
/// sizes: each image is there and not empty, a partition's own DTB is a device tree,
/// the images fit where the boot protocol puts them, the stage-2 tables fit the
/// hypervisor's frame pool, and the hypervisor's memory holds its image, a bundle of
/// `bundle` bytes, its heap and its tables. `image` gives an image's bytes by the name
/// the config uses, or says why it has none. Returns each partition's placement.
pub fn check_boot<'a>(
    config: &Config,
    target: &Target,
    image: impl Fn(&str) -> Result<&'a [u8], String>,
    bundle: u64,
) -> Result<Vec<Placement>, ConfigError> {
    let mut placements = Vec::with_capacity(config.partitions.len());
    for p in &config.partitions {
        let bytes = |property: &str, name: &str| -> Result<&'a [u8], ConfigError> {
            let data = image(name).map_err(|why| ConfigError::property(&p.node, property, why))?;
            if data.is_empty() {
                let reason = format!("{name} is empty", name = Quoted(name));
                return Err(ConfigError::property(&p.node, property, reason));
            }
            Ok(data)
        };
        let kernel = bytes("kernel", &p.boot.kernel)?;
        let initrd = p.boot.initrd.as_deref().map(|n| bytes("initrd", n)).transpose()?;
        let dtb = p.boot.dtb.as_deref().map(|n| bytes("dtb", n)).transpose()?;
        if let (Some(dtb), Some(name)) = (dtb, &p.boot.dtb) {
            if crate::dt::Tree::parse(dtb).is_err() {
                let reason = format!("{name} is not a device tree blob", name = Quoted(name));
                return Err(ConfigError::property(&p.node, "dtb", reason));
            }
        }
        placements.push((target.place)(p, &BootImages { kernel, initrd, dtb })?);
    }
    check_tables(config, target)?;
    check_footprint(config, target, bundle)?;
    Ok(placements)
}

/// The partitions' stage-2 tables fit in the hypervisor's frame pool.
fn check_tables(config: &Config, target: &Target) -> Result<(), ConfigError> {
    let Some(table_frames) = target.table_frames else { return Ok(()) };
    let pool = target.footprint.frames / 4096;
    let mut used = 0u64;
    for (id, p) in config.partitions.iter().enumerate() {
        let regions = partition_regions(config, id);
        let frames = table_frames(&regions)
            .map_err(|why| ConfigError::node(&p.node, format!("its stage-2 tables cannot be built: {why}")))?;
        used += frames as u64;
        if used > pool {
            let reason = format!(
                "the partitions' stage-2 tables need {used} table frames up to here; the hypervisor reserves {pool}"
            );
            return Err(ConfigError::node(&p.node, reason));
        }
    }
    Ok(())
}

/// `/hypervisor/memory` holds the image at its load address, the bundle, the heap and
/// the table frames.
fn check_footprint(config: &Config, target: &Target, bundle: u64) -> Result<(), ConfigError> {
    let hv = &config.hypervisor.memory;
    let fp = &target.footprint;
    let need = fp.range(bundle).filter(|need| hv.contains_range(need));
    if need.is_some() {
        return Ok(());
    }
    let reason = match fp.range(bundle) {
        Some(need) => format!(
            "{} does not hold the hypervisor's image, {bundle}-byte bundle, heap and stage-2 tables ({}: image {} KiB, heap {} KiB, tables {} KiB)",
            hpa_range(hv),
            hpa_range(&need),
            fp.image_max / 1024,
            fp.heap / 1024,
            fp.frames / 1024,
        ),
        None => format!("a {bundle}-byte bundle does not fit in the address space after the image"),
    };
    Err(ConfigError::property("/hypervisor", "memory", reason))
}

//! Guest device-tree generation: the DTB a partition's kernel boots with.
//!
//! A [`GuestDtSpec`] says what the guest sees: RAM, vCPUs, the PSCI conduit, the
//! emulated GICv3, the timer, passthrough devices (copied from the platform DTB with
//! their phandles rewritten to guest nodes), the console and `/chosen`. [`generate`]
//! turns it into a blob; it reads the platform DTB through the checked reader of
//! [`crate::dt`], so no input makes it panic. The tree is the minimal one a Linux
//! guest needs: memory, cpus, psci, a GICv3 `intc`, the timer, a PL011 with its
//! `apb-pclk` fixed clock, and `/chosen`.

mod copy;
mod error;
mod node;
mod plan;
mod platform;
mod spec;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub use copy::APB_PCLK_HZ;
pub use error::FdtGenError;
pub use node::WriteError;
pub use plan::MAX_VCPUS;
pub use spec::{
    GicV3Layout, GuestBoard, GuestConsole, GuestDtSpec, PsciConduit, VirtualConsole,
    GICR_FRAME_SIZE, PL011_SIZE,
};

use crate::dt::Tree;
use copy::{copy_device, Refs};
use node::Node;

/// Generates the guest DTB `spec` describes.
pub fn generate(spec: &GuestDtSpec<'_>) -> Result<Vec<u8>, FdtGenError> {
    let platform = spec.platform.map(platform::open).transpose()?;
    build(spec, platform.as_ref())?.to_dtb()
}

/// Generates the guest DTB `spec` describes from `platform`, the tree of
/// `spec.platform` already parsed (the hypervisor reads its platform DTB once).
pub fn generate_from(
    spec: &GuestDtSpec<'_>,
    platform: Option<&Tree<'_>>,
) -> Result<Vec<u8>, FdtGenError> {
    build(spec, platform)?.to_dtb()
}

/// The guest tree as nodes, before writing.
fn build<'t>(
    spec: &GuestDtSpec<'_>,
    platform: Option<&'t Tree<'_>>,
) -> Result<Node<'t>, FdtGenError> {
    let mut refs = Refs::new(plan::GIC_PHANDLE);
    let mut root = plan::root(spec)?;
    let memory = plan::memory(&spec.memory)?;
    let cpu_compatible = platform.and_then(platform::cpu_compatible);
    let cpus = plan::cpus(spec.vcpus, cpu_compatible)?;
    let mut devices = Vec::new();
    for path in &spec.devices {
        let tree = platform.ok_or_else(|| FdtGenError::NoPlatform { path: path.clone() })?;
        devices.push(copy_device(tree, path, &mut refs)?);
    }
    let (console, stdout) = console(spec, &devices, &mut refs)?;
    root.children.push(plan::chosen(spec, stdout.as_deref())?);
    root.children.extend(memory);
    root.children.push(cpus);
    root.children.push(plan::psci(spec));
    root.children.push(plan::gic(spec)?);
    root.children.push(plan::timer());
    root.children.extend(refs.clock_nodes());
    root.children.extend(devices);
    root.children.extend(console);
    unique_names(&root)?;
    Ok(root)
}

/// The virtual console node, if any, and the `stdout-path`.
fn console(
    spec: &GuestDtSpec<'_>,
    devices: &[Node<'_>],
    refs: &mut Refs,
) -> Result<(Option<Node<'static>>, Option<String>), FdtGenError> {
    match &spec.console {
        GuestConsole::Virtual(c) => {
            Ok((Some(plan::console(c, refs)?), Some(format!("/{}", plan::console_name(c)))))
        }
        GuestConsole::Passthrough(path) => {
            let index = spec.devices.iter().position(|d| d == path);
            let node = index.and_then(|i| devices.get(i));
            let node =
                node.ok_or_else(|| FdtGenError::ConsoleNotPassedThrough { path: path.clone() })?;
            Ok((None, Some(format!("/{}", node.name))))
        }
        GuestConsole::None => Ok((None, None)),
    }
}

/// Refuses a root with two children of the same name.
fn unique_names(root: &Node<'_>) -> Result<(), FdtGenError> {
    for (i, a) in root.children.iter().enumerate() {
        if root.children[..i].iter().any(|b| b.name == a.name) {
            return Err(FdtGenError::DuplicateNode { name: a.name.clone().into_owned() });
        }
    }
    Ok(())
}

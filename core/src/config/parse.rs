//! Config DTB to [`Config`]: the schema of doc/config.md, read through [`crate::dt`].

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use super::error::ConfigError;
use super::suggest::{nearest, with_hint};
use super::model::{
    BadAccessPolicy, Boot, Channel, Config, ConsoleKind, Device, HypervisorConfig, MemoryRegion,
    Partition, RestartPolicy,
};
use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};
use crate::dt::{cells, join, Node, Quoted, Tree};

/// The only root `compatible` this parser accepts.
const COMPATIBLE: &str = "bulkhead,config-v1";

/// Parse a config DTB into a [`Config`], checking the schema of doc/config.md: required
/// and unknown properties and nodes, property sizes, enumerations and names.
///
/// Devices come back with only `path` filled in; [`super::validate`] resolves them
/// against the platform. The error is the first that [`parse_all`] finds.
pub fn parse(dtb: &[u8]) -> Result<Config, ConfigError> {
    parse_all(dtb).map_err(|mut errors| errors.swap_remove(0))
}

/// [`parse`], reporting every independent error: the first of each node that stands on
/// its own (the root, `/hypervisor`, `/partitions`, each partition, `/channels`, each
/// channel), in tree order. Never an empty list.
pub fn parse_all(dtb: &[u8]) -> Result<Config, Vec<ConfigError>> {
    let tree = Tree::parse(dtb).map_err(|e| alloc::vec![ConfigError::from(e)])?;
    let root = tree.root();
    let errors = &mut Vec::new();
    note(errors, root_node(root));
    let hypervisor = note(errors, need_child(root, "hypervisor").and_then(hypervisor));
    let partitions = need_child(root, "partitions").and_then(|node| {
        allow_props(node, &[])?;
        named_children(node, "partition")
    });
    let partitions = note(errors, partitions).into_iter().flatten();
    let partitions: Vec<_> = partitions.filter_map(|n| note(errors, partition(n))).collect();
    let channels = match root.child("channels") {
        Some(node) => {
            let nodes = allow_props(node, &["#address-cells", "#size-cells"])
                .and_then(|()| two_cells(node, false))
                .and_then(|()| named_children(node, "channel"));
            let nodes = note(errors, nodes).into_iter().flatten();
            nodes.filter_map(|n| note(errors, channel(n))).collect()
        }
        None => Vec::new(),
    };
    match hypervisor {
        Some(hypervisor) if errors.is_empty() => Ok(Config { hypervisor, partitions, channels }),
        _ => Err(core::mem::take(errors)),
    }
}

/// `result`'s value, or `None` with its error added to `errors`.
fn note<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// The root's own properties and children.
fn root_node(root: Node<'_>) -> Result<(), ConfigError> {
    allow_props(root, &["compatible", "#address-cells", "#size-cells"])?;
    allow_children(root, &["hypervisor", "partitions", "channels"])?;
    let compatible = need(root, "compatible", root.string("compatible")?)?;
    if compatible != COMPATIBLE {
        let reason =
            format!("expected \"{COMPATIBLE}\", got {compatible}", compatible = Quoted(compatible));
        return Err(ConfigError::property("/", "compatible", reason));
    }
    two_cells(root, true)
}

fn hypervisor(node: Node<'_>) -> Result<HypervisorConfig, ConfigError> {
    allow_props(node, &["memory", "console"])?;
    allow_children(node, &[])?;
    let (base, size) = need(node, "memory", addr_size(node, "memory")?)?;
    let memory = host_range(node, "memory", base, size)?;
    let console = node.string("console")?.map(ToString::to_string);
    Ok(HypervisorConfig { memory, console })
}

const PARTITION_PROPS: &[&str] = &[
    "cpus",
    "kernel",
    "initrd",
    "dtb",
    "bootargs",
    "load-address",
    "devices",
    "console",
    "restart",
    "bad-access",
    "#address-cells",
    "#size-cells",
];

fn partition(node: Node<'_>) -> Result<Partition, ConfigError> {
    allow_props(node, PARTITION_PROPS)?;
    two_cells(node, false)?;
    let cpus = need(node, "cpus", node.cells("cpus")?)?;
    let boot = Boot {
        kernel: need(node, "kernel", node.string("kernel")?)?.to_string(),
        initrd: node.string("initrd")?.map(ToString::to_string),
        dtb: node.string("dtb")?.map(ToString::to_string),
        bootargs: node.string("bootargs")?.map(ToString::to_string),
        load: addr(node, "load-address")?.map(GuestPhysAddr::new),
    };
    let devices = node.strings("devices")?.unwrap_or_default();
    let devices = devices.into_iter().map(|path| Device {
        path: path.to_string(),
        mmio: Vec::new(),
        interrupts: Vec::new(),
        ports: Vec::new(),
        dma: false,
    });
    let console_given = node.prop("console").is_some();
    let console = match node.string("console")? {
        None | Some("virtual") => ConsoleKind::Virtual,
        Some("none") => ConsoleKind::None,
        Some(path) if path.starts_with('/') => ConsoleKind::Passthrough(path.to_string()),
        Some(other) => {
            let reason = format!(
                "expected \"virtual\", \"none\" or a device path, got {other}",
                other = Quoted(other)
            );
            let reason = with_hint(&reason, other, ["virtual", "none"]);
            return Err(ConfigError::property(&node.path(), "console", reason));
        }
    };
    let restart = match node.string("restart")? {
        None | Some("halt") => RestartPolicy::Halt,
        Some("restart") => RestartPolicy::Restart,
        Some(other) => {
            let reason =
                format!("expected \"halt\" or \"restart\", got {other}", other = Quoted(other));
            let reason = with_hint(&reason, other, ["halt", "restart"]);
            return Err(ConfigError::property(&node.path(), "restart", reason));
        }
    };
    let bad_access = match node.string("bad-access")? {
        None | Some("stop") => BadAccessPolicy::Stop,
        Some("abort") => BadAccessPolicy::Abort,
        Some(other) => {
            let reason =
                format!("expected \"stop\" or \"abort\", got {other}", other = Quoted(other));
            return Err(ConfigError::property(&node.path(), "bad-access", reason));
        }
    };
    Ok(Partition {
        name: node.name().to_string(),
        node: node.path().to_string(),
        cpus: cpus.into_iter().map(u64::from).collect(),
        memory: memory_regions(node)?,
        devices: devices.collect(),
        boot,
        console,
        console_given,
        restart,
        bad_access,
    })
}

fn memory_regions(partition: Node<'_>) -> Result<Vec<MemoryRegion>, ConfigError> {
    no_duplicate_children(partition)?;
    partition.children().map(memory_region).collect()
}

fn memory_region(node: Node<'_>) -> Result<MemoryRegion, ConfigError> {
    let unit = node.name().strip_prefix("memory@");
    let unit = unit.filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit()));
    let unit = unit.and_then(|a| u64::from_str_radix(a, 16).ok());
    let Some(unit) = unit else {
        let (name, address) = node.name().split_once('@').unwrap_or((node.name(), "<address>"));
        let reason = match nearest(name, ["memory"]) {
            Some(_) => format!("unknown node (expected memory@<address>; did you mean \"memory@{address}\"?)"),
            None => "unknown node (expected memory@<address>)".into(),
        };
        return Err(ConfigError::node(&node.path(), reason));
    };
    allow_props(node, &["reg", "host-address"])?;
    allow_children(node, &[])?;
    let (base, size) = need(node, "reg", addr_size(node, "reg")?)?;
    let guest = Range::<GuestPhysAddr>::new(GuestPhysAddr::new(base), size)
        .ok_or_else(|| range_error(node, "reg", GuestPhysAddr::new(base), size))?;
    if unit != base {
        let reason = format!("unit address {unit:#x} does not match the base {}", guest.start);
        return Err(ConfigError::property(&node.path(), "reg", reason));
    }
    let host = match addr(node, "host-address")? {
        Some(host) => host_range(node, "host-address", host, size)?.start,
        None => host_range(node, "reg", base, size)?.start,
    };
    Ok(MemoryRegion { node: node.path().to_string(), guest, host })
}

fn channel(node: Node<'_>) -> Result<Channel, ConfigError> {
    allow_props(node, &["partitions", "reg", "guest-addresses", "doorbell"])?;
    allow_children(node, &[])?;
    let partitions = need(node, "partitions", node.strings("partitions")?)?;
    let (base, size) = need(node, "reg", addr_size(node, "reg")?)?;
    let guests = need(node, "guest-addresses", node.prop("guest-addresses"))?;
    let guest = cells(guests)
        .filter(|c| !c.is_empty() && c.len() % 2 == 0)
        .map(|c| c.chunks_exact(2).filter_map(join).map(GuestPhysAddr::new).collect())
        .ok_or_else(|| {
            node.size_error("guest-addresses", "a list of <addr> (2 cells each)", guests)
        })?;
    Ok(Channel {
        name: node.name().to_string(),
        node: node.path().to_string(),
        partitions: partitions.into_iter().map(ToString::to_string).collect(),
        host: host_range(node, "reg", base, size)?,
        guest,
        doorbell: need(node, "doorbell", node.u32("doorbell")?)?,
    })
}

/// Property `name` as `<addr size>` (two cells each).
fn addr_size(node: Node<'_>, name: &str) -> Result<Option<(u64, u64)>, ConfigError> {
    let Some(value) = node.prop(name) else {
        return Ok(None);
    };
    match cells(value).as_deref() {
        Some(&[a0, a1, s0, s1]) => Ok(join(&[a0, a1]).zip(join(&[s0, s1]))),
        _ => Err(node.size_error(name, "<addr size> (4 cells, 16 bytes)", value).into()),
    }
}

/// Property `name` as `<addr>` (two cells).
fn addr(node: Node<'_>, name: &str) -> Result<Option<u64>, ConfigError> {
    let Some(value) = node.prop(name) else {
        return Ok(None);
    };
    match cells(value).as_deref() {
        Some(c @ &[_, _]) => Ok(join(c)),
        _ => Err(node.size_error(name, "<addr> (2 cells, 8 bytes)", value).into()),
    }
}

fn host_range(
    node: Node<'_>,
    name: &str,
    base: u64,
    size: u64,
) -> Result<Range<HostPhysAddr>, ConfigError> {
    Range::<HostPhysAddr>::new(HostPhysAddr::new(base), size)
        .ok_or_else(|| range_error(node, name, HostPhysAddr::new(base), size))
}

fn range_error(
    node: Node<'_>,
    name: &str,
    base: impl core::fmt::Display,
    size: u64,
) -> ConfigError {
    let reason = match size {
        0 => "size is zero".to_string(),
        _ => format!("{base} + {size:#x} runs past the end of the address space"),
    };
    ConfigError::property(&node.path(), name, reason)
}

/// `#address-cells` and `#size-cells` must be 2 where given (and given where `required`):
/// they only exist so that `dtc` reads the two-cell `reg`s the way this parser does.
fn two_cells(node: Node<'_>, required: bool) -> Result<(), ConfigError> {
    for name in ["#address-cells", "#size-cells"] {
        match node.u32(name)? {
            Some(2) => {}
            Some(cells) => {
                return Err(ConfigError::property(
                    &node.path(),
                    name,
                    format!("must be 2, got {cells}"),
                ))
            }
            None if required => _ = need(node, name, None::<u32>)?,
            None => {}
        }
    }
    Ok(())
}

fn need<T>(node: Node<'_>, name: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::property(&node.path(), name, "missing required property"))
}

fn need_child<'t>(node: Node<'t>, name: &str) -> Result<Node<'t>, ConfigError> {
    let reason = || format!("missing required node \"{name}\"");
    node.child(name).ok_or_else(|| ConfigError::node(&node.path(), reason()))
}

/// Reject properties outside `allowed`, and any property given twice.
fn allow_props(node: Node<'_>, allowed: &[&str]) -> Result<(), ConfigError> {
    let mut seen = 0u64;
    for prop in node.props() {
        let Some(i) = allowed.iter().position(|a| *a == prop.name) else {
            let reason = with_hint("unknown property", prop.name, allowed.iter().copied());
            return Err(ConfigError::property(&node.path(), prop.name, reason));
        };
        if seen & (1 << i) != 0 {
            return Err(ConfigError::property(&node.path(), prop.name, "property given twice"));
        }
        seen |= 1 << i;
    }
    Ok(())
}

/// Reject child nodes outside `allowed`, and any child given twice.
fn allow_children(node: Node<'_>, allowed: &[&str]) -> Result<(), ConfigError> {
    if let Some(child) = node.children().find(|c| !allowed.contains(&c.name())) {
        let reason = with_hint("unknown node", child.name(), allowed.iter().copied());
        return Err(ConfigError::node(&child.path(), reason));
    }
    no_duplicate_children(node)
}

fn no_duplicate_children(node: Node<'_>) -> Result<(), ConfigError> {
    // The (alphabetically) first name given twice. A config node has a handful of
    // children: comparing each pair costs less, code included, than sorting.
    let mut twice: Option<&str> = None;
    for (i, a) in node.children().enumerate() {
        let name = a.name();
        if node.children().take(i).any(|b| b.name() == name) && twice.is_none_or(|t| name < t) {
            twice = Some(name);
        }
    }
    match twice {
        Some(name) => Err(ConfigError::node(&node.path(), format!("node \"{name}\" given twice"))),
        None => Ok(()),
    }
}

/// The children of `node`, each named `[a-z0-9_-]{1,15}` and named once.
fn named_children<'t>(
    node: Node<'t>,
    what: &str,
) -> Result<impl Iterator<Item = Node<'t>>, ConfigError> {
    no_duplicate_children(node)?;
    let good = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-';
    for child in node.children() {
        if child.name().len() > 15 || !child.name().bytes().all(good) {
            let reason = format!("bad {what} name: use 1 to 15 characters from [a-z0-9_-]");
            return Err(ConfigError::node(&child.path(), reason));
        }
    }
    Ok(node.children())
}

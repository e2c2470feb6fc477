//! Config against platform: every isolation rule of doc/config.md.
//!
//! [`validate_all`] reports the first broken rule of each part that stands on its own
//! (the hypervisor's memory, its console, each partition, each channel); [`validate`]
//! and [`validate_owned`] return the first of those.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::{gpa_range, hpa_range, ConfigError};
use super::model::{Channel, Config, ConsoleKind, Device, MemoryRegion, Partition};
use super::platform::{Platform, PlatformDevice};
use super::ports::PortClaims;
use super::suggest::with_hint;
use super::target::{GuestView, Target};
use crate::addr::{GuestPhysAddr, HostPhysAddr, Range, PAGE_SIZE};
use crate::dt::Quoted;

/// Check `config` against `platform` and the hypervisor build `target` and return it
/// with every passthrough device resolved (MMIO, interrupts, DMA from the platform), or
/// the first rule it breaks.
pub fn validate(config: &Config, platform: &Platform, target: &Target) -> Result<Config, ConfigError> {
    let devices = check(config, platform, target)?;
    Ok(resolve(config.clone(), devices))
}

/// [`validate`], reporting every independent error in config order (never an empty
/// list): a partition that breaks a rule is left out of what later ones are checked
/// against, so one mistake is reported once.
pub fn validate_all(config: &Config, platform: &Platform, target: &Target) -> Result<Config, Vec<ConfigError>> {
    let devices = check_all(config, platform, target)?;
    Ok(resolve(config.clone(), devices))
}

/// [`validate`], taking the config instead of copying it (the hypervisor's boot has no
/// use for the unresolved one).
pub fn validate_owned(config: Config, platform: &Platform, target: &Target) -> Result<Config, ConfigError> {
    let devices = check(&config, platform, target)?;
    Ok(resolve(config, devices))
}

/// The platform against the build alone: no more CPUs than it supports, RAM it can
/// reach. [`validate`] checks this first too; the CLI calls it on its own to blame the
/// platform file.
pub fn check_platform(platform: &Platform, target: &Target) -> Result<(), ConfigError> {
    if platform.cpus.len() > target.max_cpus {
        let reason = format!(
            "the platform has {} CPUs; this hypervisor build supports at most {}",
            platform.cpus.len(),
            target.max_cpus
        );
        return Err(ConfigError::node("/cpus", reason));
    }
    Ok(())
}

/// Every rule; each partition's resolved devices, or the first broken rule.
fn check(config: &Config, platform: &Platform, target: &Target) -> Result<Vec<Vec<Device>>, ConfigError> {
    check_all(config, platform, target).map_err(|mut errors| errors.swap_remove(0))
}

/// Every rule; each partition's resolved devices, or every independent error.
fn check_all(config: &Config, platform: &Platform, target: &Target) -> Result<Vec<Vec<Device>>, Vec<ConfigError>> {
    check_platform(platform, target).map_err(|e| alloc::vec![e])?;
    let mut checker = Checker::new(config, platform, target);
    if config.partitions.is_empty() {
        checker.errors.push(ConfigError::node("/partitions", "no partition"));
    }
    let mut devices = Vec::with_capacity(config.partitions.len());
    for (i, p) in config.partitions.iter().enumerate() {
        match checker.partition(p) {
            Ok(resolved) => devices.push(resolved),
            Err(e) => checker.errors.push(e),
        }
        // A partition refused before its view was made still has one, empty: views
        // are looked up by partition index.
        checker.views.resize_with(i + 1, GuestView::default);
    }
    let mut errors = checker.channels();
    errors.splice(0..0, checker.errors);
    match errors.is_empty() {
        true => Ok(devices),
        false => Err(errors),
    }
}

fn resolve(mut config: Config, devices: Vec<Vec<Device>>) -> Config {
    for (partition, devices) in config.partitions.iter_mut().zip(devices) {
        partition.devices = devices;
    }
    config
}

/// Host memory somebody already holds, with a label for messages.
struct Claim {
    range: Range<HostPhysAddr>,
    label: String,
    channel: bool,
}

/// MMIO pages somebody already holds: a device's pages (first and last, inclusive) and
/// who owns it.
struct PageClaim<'c> {
    first: HostPhysAddr,
    last: HostPhysAddr,
    device: &'c str,
    owner: String,
}

impl PageClaim<'_> {
    fn overlaps(&self, other: &Self) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// An interrupt line somebody already holds.
struct LineClaim<'c> {
    id: u32,
    device: &'c str,
    owner: String,
}

struct Checker<'c> {
    config: &'c Config,
    platform: &'c Platform,
    target: &'c Target,
    /// What the hypervisor gives each partition checked so far (emulated windows, its
    /// own interrupts), in config order.
    views: Vec<GuestView>,
    /// Interrupt lines held by the hypervisor's console and the partitions' devices.
    lines: Vec<LineClaim<'c>>,
    /// I/O ports held by the hypervisor's console and the partitions' devices.
    ports: PortClaims<'c>,
    /// CPU id to the partition holding it (a few of them: a list, not a map).
    cpus: Vec<(u64, &'c str)>,
    /// Device path to the partition holding it.
    devices: Vec<(&'c str, &'c str)>,
    /// Host RAM held by the hypervisor, the channels and the partitions checked so far.
    ram: Vec<Claim>,
    /// MMIO pages held by the hypervisor and the partitions checked so far.
    pages: Vec<PageClaim<'c>>,
    /// Rules broken so far (the hypervisor's, the partitions').
    errors: Vec<ConfigError>,
}

impl<'c> Checker<'c> {
    /// Check the hypervisor's own resources and record what it holds (its memory even
    /// when refused: the partitions must stay clear of it all the same).
    fn new(config: &'c Config, platform: &'c Platform, target: &'c Target) -> Self {
        let hv = &config.hypervisor;
        let mut errors = Vec::new();
        if let Err(e) = check_host_range(platform, target, "/hypervisor", "memory", &hv.memory) {
            errors.push(e);
        }
        let mut ram = alloc::vec![Claim {
            range: hv.memory,
            label: "the hypervisor's memory".into(),
            channel: false
        }];
        ram.extend(config.channels.iter().map(channel_claim));
        let mut pages = Vec::new();
        let mut lines = Vec::new();
        let mut ports = PortClaims::default();
        let console = hv.console.as_deref().map(|path| hypervisor_console(platform, target, path));
        match console {
            Some(Ok(device)) => {
                pages.extend(page_claims(&device.path, &device.mmio, "the hypervisor"));
                let owner = || String::from("the hypervisor");
                lines.extend(device.interrupts.iter().map(|&id| LineClaim { id, device: &device.path, owner: owner() }));
                if let Err(reason) = ports.claim(device, "the hypervisor", &[]) {
                    errors.push(ConfigError::property("/hypervisor", "console", reason));
                }
            }
            Some(Err(e)) => errors.push(e),
            None => {}
        }
        for device in platform.devices.iter().filter(|d| d.interrupt_controller) {
            pages.extend(page_claims(&device.path, &device.mmio, "the hypervisor"));
        }
        Self {
            config,
            platform,
            target,
            views: Vec::new(),
            lines,
            ports,
            cpus: Vec::new(),
            devices: Vec::new(),
            ram,
            pages,
            errors,
        }
    }

    /// Check one partition, record what it holds, and return its resolved devices.
    fn partition(&mut self, p: &'c Partition) -> Result<Vec<Device>, ConfigError> {
        self.cpus(p)?;
        self.views.push((self.target.guest)(self.platform, p)?);
        if p.memory.is_empty() {
            return Err(ConfigError::node(
                &p.node,
                "no memory region (add a memory@<address> node)",
            ));
        }
        for (i, region) in p.memory.iter().enumerate() {
            self.region(p, i, region)?;
        }
        if let Some(load) = p.boot.load.filter(|&a| !p.memory.iter().any(|r| r.guest.contains(a))) {
            let reason = format!("{load} is outside the partition's memory");
            return Err(ConfigError::property(&p.node, "load-address", reason));
        }
        let devices =
            p.devices.iter().map(|d| self.device(p, &d.path)).collect::<Result<Vec<_>, _>>()?;
        self.console(p)?;
        Ok(devices)
    }

    /// The partition's console: a passthrough one must be its own device; a virtual one
    /// beside a UART it owns must be asked for by name (which is the console would
    /// otherwise be a guess).
    fn console(&self, p: &Partition) -> Result<(), ConfigError> {
        let error = |reason: String| Err(ConfigError::property(&p.node, "console", reason));
        match &p.console {
            ConsoleKind::Passthrough(path) if !p.devices.iter().any(|d| &d.path == path) => {
                error(format!("{path} is not one of this partition's devices", path = Quoted(path)))
            }
            ConsoleKind::Virtual if !p.console_given => {
                let uart = p.devices.iter().filter_map(|d| self.platform.device(&d.path)).find(|d| {
                    d.compatible.iter().any(|c| self.target.uarts.contains(&c.as_str()))
                });
                match uart {
                    Some(uart) => error(format!(
                        "the partition owns the UART {path}: say console = {path} to drive it, or console = \"virtual\" for an emulated one beside it",
                        path = Quoted(&uart.path)
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The windows the hypervisor emulates for the partition being checked.
    fn view(&self) -> &GuestView {
        // `partition` pushed this partition's view before any caller runs.
        self.views.last().unwrap_or(&EMPTY_VIEW)
    }

    fn cpus(&mut self, p: &'c Partition) -> Result<(), ConfigError> {
        if p.cpus.is_empty() {
            return Err(ConfigError::property(&p.node, "cpus", "no CPU given"));
        }
        if p.cpus.len() > self.target.max_vcpus {
            let reason = format!(
                "{} CPUs; a partition can have at most {} vCPUs",
                p.cpus.len(),
                self.target.max_vcpus
            );
            return Err(ConfigError::property(&p.node, "cpus", reason));
        }
        for (i, &cpu) in p.cpus.iter().enumerate() {
            let error = |reason: String| Err(ConfigError::property(&p.node, "cpus", reason));
            if self.platform.cpu(cpu).is_none() {
                let ids: Vec<String> = self.platform.cpus.iter().map(|c| format!("{}", c.id)).collect();
                return error(format!("cpu {cpu} is not in the platform (its CPUs: {})", ids.join(", ")));
            }
            if p.cpus.iter().take(i).any(|&c| c == cpu) {
                return error(format!("cpu {cpu} is listed twice"));
            }
            if let Some(&(_, owner)) = self.cpus.iter().find(|(c, _)| *c == cpu) {
                return error(format!(
                    "cpu {cpu} is already given to partition {owner}",
                    owner = Quoted(owner)
                ));
            }
            self.cpus.push((cpu, &p.name));
        }
        Ok(())
    }

    /// Check region `i` of `p`: alignment, platform RAM, overlaps on both sides.
    fn region(
        &mut self,
        p: &Partition,
        i: usize,
        region: &MemoryRegion,
    ) -> Result<(), ConfigError> {
        let guest = &region.guest;
        let error = |property: &str, reason: String| {
            Err(ConfigError::property(&region.node, property, reason))
        };
        if !guest.start.is_page_aligned() {
            return error("reg", format!("{} is not 4 KiB aligned", guest.start));
        }
        if guest.size & (PAGE_SIZE - 1) != 0 {
            return error("reg", format!("size {:#x} is not a multiple of 4 KiB", guest.size));
        }
        if let Some(other) = p.memory.iter().take(i).find(|o| o.guest.overlaps(guest)) {
            let reason = format!(
                "{} overlaps {} ({})",
                gpa_range(guest),
                other.node,
                gpa_range(&other.guest)
            );
            return error("reg", reason);
        }
        check_guest_range(self.target, self.view(), &region.node, "reg", guest)?;
        let property = if region.is_identity() { "reg" } else { "host-address" };
        let host = region.host_range();
        check_host_range(self.platform, self.target, &region.node, property, &host)?;
        if let Some(claim) = self.ram.iter().find(|c| c.range.overlaps(&host)) {
            let reason = format!(
                "{} overlaps {} ({})",
                hpa_range(&host),
                claim.label,
                hpa_range(&claim.range)
            );
            return error(property, reason);
        }
        if let Some(claim) = self.mmio_over(&host) {
            return error(property, mmio_overlap(&host, claim));
        }
        self.ram.push(Claim { range: host, label: region.node.clone(), channel: false });
        Ok(())
    }

    /// Check and resolve one passthrough device of `p`.
    fn device(&mut self, p: &'c Partition, path: &'c str) -> Result<Device, ConfigError> {
        let error = |reason: String| Err(ConfigError::property(&p.node, "devices", reason));
        let Some(device) = self.platform.device(path) else {
            return error(not_a_device(self.platform, path));
        };
        if device.interrupt_controller {
            return error(format!(
                "{path} is an interrupt controller, which the hypervisor keeps",
                path = Quoted(path)
            ));
        }
        if device.hypervisor_owned {
            return error(format!("{path} is a device the hypervisor keeps", path = Quoted(path)));
        }
        if self.config.hypervisor.console.as_deref() == Some(path) {
            return error(format!("{path} is the hypervisor's console", path = Quoted(path)));
        }
        if let Some(&(_, owner)) = self.devices.iter().find(|(d, _)| *d == path) {
            if owner == p.name {
                return error(format!("{path} is listed twice", path = Quoted(path)));
            }
            return error(format!(
                "{path} is already given to partition {owner}",
                path = Quoted(path),
                owner = Quoted(owner)
            ));
        }
        self.devices.push((path, &p.name));
        self.claim_pages(p, device)?;
        if let Some((page, claim)) = self.ram_under(device) {
            return error(format!(
                "{} has MMIO on {page}, which overlaps {} ({})",
                Quoted(path),
                claim.label,
                hpa_range(&claim.range)
            ));
        }
        for mmio in device.mmio.iter().map(guest_view) {
            let in_view = check_guest_range(self.target, self.view(), &p.node, "devices", &mmio);
            in_view.map_err(|e| ConfigError { reason: format!("{}: {}", Quoted(path), e.reason), ..e })?;
        }
        self.claim_lines(p, device)?;
        let owner = format!("partition {}", Quoted(&p.name));
        let view_ports = &self.views.last().unwrap_or(&EMPTY_VIEW).ports;
        self.ports.claim(device, &owner, view_ports).map_err(|reason| ConfigError::property(&p.node, "devices", reason))?;
        if let Some((mmio, region)) = guest_collision(p, device) {
            let reason = format!(
                "{} is mapped at {} (guest = host), which overlaps {} ({})",
                Quoted(path),
                gpa_range(&mmio),
                region.node,
                gpa_range(&region.guest)
            );
            return error(reason);
        }
        if let Some(region) = p.memory.iter().find(|r| device.dma && !r.is_identity()) {
            let reason = format!(
                "{} can do DMA and needs identity-placed memory: there is no IOMMU ({} is at {})",
                Quoted(path),
                region.node,
                region.host
            );
            return error(reason);
        }
        Ok(Device {
            path: device.path.clone(),
            mmio: device.mmio.clone(),
            interrupts: device.interrupts.clone(),
            ports: device.ports.clone(),
            dma: device.dma,
        })
    }

    /// Record the MMIO pages of `p`'s `device`, unless somebody else holds one of them.
    fn claim_pages(
        &mut self,
        p: &Partition,
        device: &'c PlatformDevice,
    ) -> Result<(), ConfigError> {
        let mine =
            page_claims(&device.path, &device.mmio, &format!("partition {}", Quoted(&p.name)));
        for claim in &mine {
            if let Some(other) =
                self.pages.iter().find(|o| o.owner != claim.owner && o.overlaps(claim))
            {
                let page = claim.first.max(other.first);
                let reason = format!(
                    "{} shares MMIO page {page} with {} of {}",
                    Quoted(&device.path),
                    Quoted(other.device),
                    other.owner
                );
                return Err(ConfigError::property(&p.node, "devices", reason));
            }
        }
        self.pages.extend(mine);
        Ok(())
    }

    /// Device pages held (by the hypervisor or a partition) that the page-aligned host
    /// RAM `range` overlaps: a device whose registers sit in platform RAM.
    fn mmio_over(&self, range: &Range<HostPhysAddr>) -> Option<&PageClaim<'c>> {
        self.pages.iter().find(|c| c.first <= range.last() && range.start <= c.last)
    }

    /// The first page of `device`'s MMIO that is RAM somebody holds (the hypervisor's
    /// memory, a channel, a partition's region), and the holder.
    fn ram_under(&self, device: &PlatformDevice) -> Option<(HostPhysAddr, &Claim)> {
        device.mmio.iter().find_map(|m| {
            let (first, last) = (m.start.align_down(PAGE_SIZE), m.last().align_down(PAGE_SIZE));
            let end = last.as_u64() | (PAGE_SIZE - 1);
            let claim = self.ram.iter().find(|c| c.range.start.as_u64() <= end && first <= c.range.last())?;
            Some((first.max(claim.range.start), claim))
        })
    }

    /// Record the interrupt lines of `p`'s `device`, unless another partition or the
    /// hypervisor holds one, or the hypervisor delivers that id to `p` itself.
    fn claim_lines(&mut self, p: &Partition, device: &'c PlatformDevice) -> Result<(), ConfigError> {
        let owner = format!("partition {}", Quoted(&p.name));
        for &id in &device.interrupts {
            let error = |reason: String| Err(ConfigError::property(&p.node, "devices", reason));
            if let Some(other) = self.lines.iter().find(|l| l.id == id && l.owner != owner) {
                return error(format!(
                    "{}: interrupt {id} is already {} of {}",
                    Quoted(&device.path),
                    Quoted(other.device),
                    other.owner
                ));
            }
            if self.view().interrupts.contains(&id) {
                return error(format!(
                    "{}: interrupt {id} is one the hypervisor delivers to the partition itself (timer or virtual console)",
                    Quoted(&device.path)
                ));
            }
            self.lines.push(LineClaim { id, device: &device.path, owner: owner.clone() });
        }
        Ok(())
    }

    /// Check every channel; the first broken rule of each.
    fn channels(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut claims: Vec<&Claim> = self.ram.iter().filter(|c| !c.channel).collect();
        let mut windows: Windows<'_> = Vec::new();
        for p in &self.config.partitions {
            let ram = p.memory.iter().map(|r| (r.guest, r.node.clone()));
            let devices = p.devices.iter().filter_map(|d| self.platform.device(&d.path));
            let mmio = devices.flat_map(|d| d.mmio.iter().map(|m| (guest_view(m), d.path.clone())));
            windows.push((&p.name, ram.chain(mmio).collect()));
        }
        let own: Vec<Claim> = self.config.channels.iter().map(channel_claim).collect();
        for (channel, claim) in self.config.channels.iter().zip(&own) {
            if let Err(e) = self.channel(channel, claim, &mut claims, &mut windows) {
                errors.push(e);
            }
        }
        errors
    }

    /// Check one channel against what `claims` and `windows` hold, and record it there.
    fn channel<'a>(
        &self,
        channel: &'a Channel,
        claim: &'a Claim,
        claims: &mut Vec<&'a Claim>,
        windows: &mut Windows<'a>,
    ) -> Result<(), ConfigError> {
        self.channel_sharers(channel)?;
        check_host_range(self.platform, self.target, &channel.node, "reg", &channel.host)?;
        if let Some(other) = claims.iter().find(|c| c.range.overlaps(&channel.host)) {
            let reason = format!(
                "{} overlaps {} ({})",
                hpa_range(&channel.host),
                other.label,
                hpa_range(&other.range)
            );
            return Err(ConfigError::property(&channel.node, "reg", reason));
        }
        if let Some(pages) = self.mmio_over(&channel.host) {
            let reason = mmio_overlap(&channel.host, pages);
            return Err(ConfigError::property(&channel.node, "reg", reason));
        }
        claims.push(claim);
        channel_windows(channel, windows)?;
        self.channel_guest_view(channel)?;
        self.doorbell(channel)
    }

    /// Each sharer's window lies in its guest-physical space, clear of what the
    /// hypervisor emulates there.
    fn channel_guest_view(&self, channel: &Channel) -> Result<(), ConfigError> {
        for (name, &start) in channel.partitions.iter().zip(&channel.guest) {
            let (Some(window), Some(view)) = (Range::new(start, channel.host.size), self.view_of(name)) else {
                continue; // `channel_windows` refused a wrapping window already
            };
            check_guest_range(self.target, view, &channel.node, "guest-addresses", &window).map_err(|e| ConfigError {
                reason: format!("partition {}: {}", Quoted(name), e.reason),
                ..e
            })?;
        }
        Ok(())
    }

    /// The doorbell is an interrupt id the build allows, that no sharer receives from a
    /// device or from the hypervisor, and no other channel of a sharer uses.
    fn doorbell(&self, channel: &Channel) -> Result<(), ConfigError> {
        let id = channel.doorbell;
        let error = |reason: String| Err(ConfigError::property(&channel.node, "doorbell", reason));
        let (low, high) = self.target.doorbells;
        if !(low..=high).contains(&id) {
            return error(format!("{id} is not a doorbell interrupt this build can raise ({low}..={high})"));
        }
        // A passthrough line anywhere: its id means a device, never a doorbell.
        if let Some(line) = self.lines.iter().find(|l| l.id == id) {
            return error(format!("{id} is the interrupt of {} ({})", Quoted(line.device), line.owner));
        }
        for name in &channel.partitions {
            let Some(p) = self.config.partition(name) else { continue };
            let owner = format!("partition {}", Quoted(name));
            if self.view_of(name).is_some_and(|v| v.interrupts.contains(&id)) {
                return error(format!("{id} is an interrupt the hypervisor delivers to {owner} itself"));
            }
            let earlier = self.config.channels.iter().take_while(|c| !core::ptr::eq(*c, channel));
            if let Some(other) = earlier.filter(|c| c.doorbell == id).find(|c| c.partitions.contains(&p.name)) {
                return error(format!("{id} is already the doorbell of {} in {owner}", other.node));
            }
        }
        Ok(())
    }

    /// The guest view of the partition named `name`.
    fn view_of(&self, name: &str) -> Option<&GuestView> {
        let index = self.config.partitions.iter().position(|p| p.name == name)?;
        self.views.get(index)
    }

    /// The channel's partitions: two or more, known, distinct, one address each.
    fn channel_sharers(&self, channel: &Channel) -> Result<(), ConfigError> {
        let error = |property: &str, reason: String| {
            Err(ConfigError::property(&channel.node, property, reason))
        };
        if channel.partitions.len() < 2 {
            return error("partitions", "expected two or more partition names".into());
        }
        for (i, name) in channel.partitions.iter().enumerate() {
            if self.config.partition(name).is_none() {
                let reason = format!("no partition is named {name}", name = Quoted(name));
                let names = self.config.partitions.iter().map(|p| p.name.as_str());
                return error("partitions", with_hint(&reason, name, names));
            }
            if channel.partitions.iter().take(i).any(|n| n == name) {
                return error("partitions", format!("{name} is listed twice", name = Quoted(name)));
            }
        }
        if channel.guest.len() != channel.partitions.len() {
            let reason = format!(
                "expected {} addresses (one per partition), got {}",
                channel.partitions.len(),
                channel.guest.len()
            );
            return error("guest-addresses", reason);
        }
        Ok(())
    }
}

/// What each partition sees (by name): its RAM, device MMIO and channel windows.
type Windows<'c> = Vec<(&'c str, Vec<(Range<GuestPhysAddr>, String)>)>;

/// Where each sharer sees `channel`: aligned, and clear of its memory and other channels.
fn channel_windows<'c>(channel: &'c Channel, windows: &mut Windows<'c>) -> Result<(), ConfigError> {
    let error =
        |reason: String| Err(ConfigError::property(&channel.node, "guest-addresses", reason));
    for (name, &start) in channel.partitions.iter().zip(&channel.guest) {
        if !start.is_page_aligned() {
            return error(format!("{start} is not 4 KiB aligned"));
        }
        let Some(window) = Range::<GuestPhysAddr>::new(start, channel.host.size) else {
            return error(format!(
                "{start} + {:#x} runs past the end of the address space",
                channel.host.size
            ));
        };
        let i = windows.iter().position(|(n, _)| n == name).unwrap_or_else(|| {
            windows.push((name, Vec::new()));
            windows.len() - 1
        });
        let seen = &mut windows[i].1;
        if let Some((other, label)) = seen.iter().find(|(r, _)| r.overlaps(&window)) {
            let reason = format!(
                "{} (partition {}) overlaps {label} ({})",
                gpa_range(&window),
                Quoted(name),
                gpa_range(other)
            );
            return error(reason);
        }
        seen.push((window, format!("channel {}", channel.node)));
    }
    Ok(())
}

/// A host range must be page aligned, lie in platform RAM and within the build's
/// physical address size.
fn check_host_range(
    platform: &Platform,
    target: &Target,
    node: &str,
    property: &str,
    range: &Range<HostPhysAddr>,
) -> Result<(), ConfigError> {
    let end = u128::from(range.start.as_u64()) + u128::from(range.size);
    let reason = if !range.start.is_page_aligned() {
        format!("{} is not 4 KiB aligned", range.start)
    } else if range.size & (PAGE_SIZE - 1) != 0 {
        format!("size {:#x} is not a multiple of 4 KiB", range.size)
    } else if !platform.ram_covers(range) {
        format!("{} is not platform RAM", hpa_range(range))
    } else if end > u128::from(target.pa_limit()) {
        format!("{} is beyond the {}-bit physical address space the stage-2 tables reach", hpa_range(range), target.pa_bits)
    } else {
        return Ok(());
    };
    Err(ConfigError::property(node, property, reason))
}

/// A guest range must lie in the build's guest-physical space and clear of every window
/// the hypervisor emulates in the partition.
fn check_guest_range(
    target: &Target,
    view: &GuestView,
    node: &str,
    property: &str,
    range: &Range<GuestPhysAddr>,
) -> Result<(), ConfigError> {
    let end = u128::from(range.start.as_u64()) + u128::from(range.size);
    let reason = if end > u128::from(target.ipa_limit()) {
        format!("{} is beyond the {}-bit guest-physical address space", gpa_range(range), target.ipa_bits)
    } else if let Some(w) = view.windows.iter().find(|w| w.range.overlaps(range)) {
        format!("{} overlaps {} ({})", gpa_range(range), w.what, gpa_range(&w.range))
    } else {
        return Ok(());
    };
    Err(ConfigError::property(node, property, reason))
}

/// Why `path` names no device of `platform`, with the nearest device path when one is
/// near enough to be a typo of it.
fn not_a_device(platform: &Platform, path: &str) -> String {
    let reason = format!("{path} is not a platform device", path = Quoted(path));
    with_hint(&reason, path, platform.devices.iter().map(|d| d.path.as_str()))
}

/// The hypervisor's console: a platform device this build can drive.
fn hypervisor_console<'p>(platform: &'p Platform, target: &Target, path: &str) -> Result<&'p PlatformDevice, ConfigError> {
    let error = |reason: String| ConfigError::property("/hypervisor", "console", reason);
    let device = platform.device(path).ok_or_else(|| error(not_a_device(platform, path)))?;
    if !device.compatible.iter().any(|c| target.console_uarts.contains(&c.as_str())) {
        return Err(error(format!(
            "{path} is not a UART this hypervisor build can drive (compatible with one of: {})",
            target.console_uarts.join(", "),
            path = Quoted(path)
        )));
    }
    Ok(device)
}

static EMPTY_VIEW: GuestView = GuestView { windows: Vec::new(), ports: Vec::new(), interrupts: Vec::new() };

/// A passthrough MMIO range as the partition sees it: at the same address.
fn guest_view(mmio: &Range<HostPhysAddr>) -> Range<GuestPhysAddr> {
    Range { start: GuestPhysAddr::new(mmio.start.as_u64()), size: mmio.size }
}

/// The first MMIO range of `device` that lands on guest RAM of `p`.
fn guest_collision<'p>(
    p: &'p Partition,
    device: &PlatformDevice,
) -> Option<(Range<GuestPhysAddr>, &'p MemoryRegion)> {
    device.mmio.iter().map(guest_view).find_map(|mmio| {
        p.memory.iter().find(|r| r.guest.overlaps(&mmio)).map(|region| (mmio, region))
    })
}

/// Why host RAM `range` may not lie on the device pages `claim`.
fn mmio_overlap(range: &Range<HostPhysAddr>, claim: &PageClaim<'_>) -> String {
    format!(
        "{} overlaps the MMIO of {} ({}, page {})",
        hpa_range(range),
        Quoted(claim.device),
        claim.owner,
        claim.first.max(range.start)
    )
}

fn channel_claim(channel: &Channel) -> Claim {
    Claim { range: channel.host, label: format!("channel {}", channel.node), channel: true }
}

/// The 4 KiB pages each MMIO range of a device touches.
fn page_claims<'c>(
    device: &'c str,
    mmio: &[Range<HostPhysAddr>],
    owner: &str,
) -> Vec<PageClaim<'c>> {
    let claim = |r: &Range<HostPhysAddr>| PageClaim {
        first: r.start.align_down(PAGE_SIZE),
        last: r.last().align_down(PAGE_SIZE),
        device,
        owner: owner.into(),
    };
    mmio.iter().map(claim).collect()
}

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;

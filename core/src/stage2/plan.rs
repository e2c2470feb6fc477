//! What a partition's stage-2 tables map, derived from a validated config: its RAM, its
//! passthrough device pages and its channel windows, nothing else.
//!
//! The runtime builds the tables from this list and the host check counts their frames
//! from the same list, so the two never disagree about what a partition can reach.

use alloc::vec::Vec;

use super::engine::Stage2;
use super::format::{DescriptorFormat, MemType, Perms};
use super::frames::PhysMemory;
use super::Stage2Error;
use crate::addr::{GuestPhysAddr, HostPhysAddr, Range};
use crate::config::{Config, Partition};

/// Why a range is granted.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// One of the partition's memory regions.
    Ram,
    /// Pages of its passthrough devices (guest = host).
    Device,
    /// A channel it is a member of.
    Channel,
}

/// One contiguous range of a partition's guest-physical space and what backs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First guest-physical address.
    pub gpa: GuestPhysAddr,
    /// First host-physical address.
    pub hpa: HostPhysAddr,
    /// Bytes, a multiple of 4 KiB.
    pub size: u64,
    /// Access granted.
    pub perms: Perms,
    /// Memory type.
    pub mem: MemType,
    /// Why.
    pub grant: Grant,
}

/// Everything partition `id` of `config` may reach: RAM as Normal RWX, device MMIO
/// pages as Device RW (pages two of its devices share merged, so mapped once), channel
/// windows as Normal RW.
pub fn partition_regions(config: &Config, id: usize) -> Vec<Region> {
    let Some(p) = config.partitions.get(id) else { return Vec::new() };
    let ram = p.memory.iter().map(|r| Region {
        gpa: r.guest.start,
        hpa: r.host,
        size: r.guest.size,
        perms: Perms::RWX,
        mem: MemType::Normal,
        grant: Grant::Ram,
    });
    let devices = device_pages(p).into_iter().map(|(start, end)| Region {
        gpa: GuestPhysAddr::new(start),
        hpa: HostPhysAddr::new(start),
        size: end - start,
        perms: Perms::RW,
        mem: MemType::Device,
        grant: Grant::Device,
    });
    let channels = config.channels.iter().filter_map(|c| {
        let i = c.partitions.iter().position(|n| *n == p.name)?;
        Some(Region {
            gpa: *c.guest.get(i)?,
            hpa: c.host.start,
            size: c.host.size,
            perms: Perms::RW,
            mem: MemType::Normal,
            grant: Grant::Channel,
        })
    });
    ram.chain(devices).chain(channels).collect()
}

/// The partition's device MMIO as page-aligned `[start, end)` spans, sorted and merged
/// (validation guarantees no other partition has a device on any of these pages).
fn device_pages(p: &Partition) -> Vec<(u64, u64)> {
    let mut pages: Vec<(u64, u64)> = p
        .devices
        .iter()
        .flat_map(|d| d.mmio.iter())
        .map(|r| (r.start.as_u64() & !0xfff, (r.last().as_u64() | 0xfff).saturating_add(1)))
        .collect();
    pages.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(pages.len());
    for (start, end) in pages {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Maps every region into `s2`.
pub fn map_regions<F: DescriptorFormat, M: PhysMemory>(
    s2: &mut Stage2<'_, F, M>,
    regions: &[Region],
) -> Result<(), (Region, Stage2Error)> {
    for r in regions {
        s2.map(r.gpa, r.hpa, r.size, r.perms, r.mem).map_err(|e| (*r, e))?;
    }
    Ok(())
}

/// The guest range of a region, for messages.
impl Region {
    /// `[gpa, gpa + size)`.
    pub fn guest(&self) -> Option<Range<GuestPhysAddr>> {
        Range::new(self.gpa, self.size)
    }
}

/// The table frames `format`'s tables for `regions` take, counted by building them on
/// the host heap: what the target's frame pool must hold for this partition.
pub fn count_frames<F: DescriptorFormat>(format: F, regions: &[Region]) -> Result<usize, alloc::string::String> {
    use alloc::format;
    // Generous: a page table per 2 MiB of 4 KiB-mapped space would be far beyond any
    // config; the arena is only heap and freed at once.
    const ARENA_FRAMES: usize = 4096;
    let (arena, pool) = super::frames::Arena::new(HostPhysAddr::new(0x1000_0000), ARENA_FRAMES)
        .ok_or_else(|| alloc::string::String::from("no host memory for a table arena"))?;
    let pool = spin::Mutex::new(pool);
    let mut s2 = Stage2::new(format, &arena, &pool).map_err(|e| format!("{e}"))?;
    map_regions(&mut s2, regions).map_err(|(r, e)| format!("{} at {}: {e}", grant_name(r.grant), r.gpa))?;
    drop(s2);
    let free = pool.lock().free_frames();
    Ok(ARENA_FRAMES - free)
}

/// `RAM`, `device MMIO` or `channel`, for messages.
pub fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::Ram => "RAM",
        Grant::Device => "device MMIO",
        Grant::Channel => "channel",
    }
}

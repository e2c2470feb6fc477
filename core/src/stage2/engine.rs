//! `Stage2`: one partition's guest-physical to host-physical tables, in any format.

use alloc::vec::Vec;
use core::ops::ControlFlow;

use spin::Mutex;

use super::format::{level_shift, level_size, Attrs, DescriptorFormat, MemType, Perms, LAST_LEVEL};
use super::frames::{PhysMemory, TableFrames};
use super::walk::{Edit, Span};
use super::Stage2Error;
use crate::addr::{GuestPhysAddr, HostPhysAddr, PAGE_SIZE};

/// Where one guest-physical address goes.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Translation {
    /// The host-physical address the GPA reaches.
    pub hpa: HostPhysAddr,
    /// Access the partition has there.
    pub perms: Perms,
    /// Memory type there.
    pub mem: MemType,
    /// Size of the leaf (page or block) holding the translation: 4 KiB, 2 MiB, 1 GiB.
    pub page_size: u64,
}

/// One leaf descriptor: a naturally aligned block or page.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mapping {
    /// First guest-physical address of the leaf.
    pub gpa: GuestPhysAddr,
    /// First host-physical address of the leaf.
    pub hpa: HostPhysAddr,
    /// Size of the leaf in bytes.
    pub size: u64,
    /// Permissions and memory type.
    pub attrs: Attrs,
}

/// A partition's stage-2 translation tables (VTTBR_EL2 / EPTP target), generic over the
/// descriptor format `F` and the way `M` the hypervisor reaches table frames.
///
/// Mappings use the largest leaves alignment and size allow (1 GiB, 2 MiB, 4 KiB where
/// the format permits them) and blocks are split when a later call touches part of one.
/// Every refused call leaves the translations unchanged.
///
/// The engine performs no TLB or walk-cache maintenance and no barriers. After `unmap`,
/// `protect` or `remap` on tables a CPU may be using, the caller issues the barriers and
/// invalidates by VMID / EPTP (`DSB ISHST; TLBI VMALLS12E1IS`, `INVEPT`) before relying
/// on the change. Those calls may split a live block, which on Arm strictly needs
/// break-before-make (Arm ARM D8, "Translation table updates"); the engine does not do
/// that, so change live tables only with the partition's vCPUs stopped. Table frames
/// that `unmap` empties are *retired*, not freed, until [`Stage2::reclaim_retired`]
/// says the walk caches forgot them.
pub struct Stage2<'a, F: DescriptorFormat, M: PhysMemory> {
    pub(super) format: F,
    pub(super) phys: M,
    pub(super) frames: &'a Mutex<TableFrames>,
    pub(super) root: HostPhysAddr,
    pub(super) root_frames: usize,
    pub(super) retired: Vec<HostPhysAddr>,
}

/// Whether `[addr, addr + size)` lies below `1 << bits`.
pub(super) fn fits(addr: u64, size: u64, bits: u32) -> bool {
    match addr.checked_add(size) {
        Some(end) => bits >= 64 || end <= 1u64 << bits,
        None => false,
    }
}

impl<'a, F: DescriptorFormat, M: PhysMemory> Stage2<'a, F, M> {
    /// Empty tables: allocates the (possibly concatenated) root from `frames`.
    pub fn new(format: F, phys: M, frames: &'a Mutex<TableFrames>) -> Result<Self, Stage2Error> {
        let (ipa_bits, start_level) = (format.ipa_bits(), format.start_level());
        let shift = level_shift(start_level);
        // Up to 16 concatenated root frames: 9 + 4 bits resolved at the start level.
        if start_level >= LAST_LEVEL || ipa_bits <= shift || ipa_bits > shift + 13 || ipa_bits > 52
        {
            return Err(Stage2Error::UnsupportedGeometry {
                ipa_bits,
                start_level,
            });
        }
        let root_frames = (1usize << (ipa_bits - shift)).div_ceil(512);
        let mut s2 = Self {
            format,
            phys,
            frames,
            root: HostPhysAddr::new(0),
            root_frames,
            retired: Vec::new(),
        };
        s2.root = s2.alloc_frames(root_frames)?;
        Ok(s2)
    }

    /// Host-physical address of the root table, for VTTBR_EL2.BADDR or the EPTP.
    pub fn root(&self) -> HostPhysAddr {
        self.root
    }

    /// Number of frames in the root (more than one when the root is concatenated).
    pub fn root_frames(&self) -> usize {
        self.root_frames
    }

    /// The descriptor format.
    pub fn format(&self) -> &F {
        &self.format
    }

    pub(super) fn ipa_limit(&self) -> u64 {
        1u64 << self.format.ipa_bits()
    }

    /// Maps `[gpa, gpa + size)` to `[hpa, hpa + size)`. Refuses to touch a live mapping
    /// ([`Stage2Error::AlreadyMapped`]); on any error nothing is mapped.
    pub fn map(
        &mut self,
        gpa: GuestPhysAddr,
        hpa: HostPhysAddr,
        size: u64,
        perms: Perms,
        mem: MemType,
    ) -> Result<(), Stage2Error> {
        self.check(gpa, Some(hpa), size)?;
        self.check_perms(perms)?;
        let (lo, hi) = (gpa.as_u64(), gpa.as_u64() + size);
        if let Some(gpa) = self.first_mapped(lo, hi) {
            return Err(Stage2Error::AlreadyMapped { gpa });
        }
        let attrs = Attrs { perms, mem };
        let mut off = 0;
        while off < size {
            let (g, h) = (lo + off, hpa.as_u64() + off);
            let level = self.leaf_level(g, h, size - off);
            if let Err(e) = self.set_leaf(g, level, HostPhysAddr::new(h), attrs) {
                // The range was empty, so clearing it restores exactly the old state.
                let root = self.root_table();
                self.edit(root, lo, hi, Edit::Clear);
                return Err(e);
            }
            off += level_size(level);
        }
        Ok(())
    }

    /// Like [`Self::map`] but replaces whatever is mapped in the range. If the new
    /// mapping fails for want of frames, the range is left unmapped.
    pub fn remap(
        &mut self,
        gpa: GuestPhysAddr,
        hpa: HostPhysAddr,
        size: u64,
        perms: Perms,
        mem: MemType,
    ) -> Result<(), Stage2Error> {
        self.check(gpa, Some(hpa), size)?;
        self.check_perms(perms)?;
        self.unmap(gpa, size)?;
        self.map(gpa, hpa, size, perms, mem)
    }

    /// Unmaps `[gpa, gpa + size)`; holes inside are fine. Neighbouring translations stay
    /// as they were (blocks straddling the edges are split), and tables left empty are
    /// retired. Fails only on bad arguments or, when a block must be split, for want of
    /// frames, and then changes nothing.
    pub fn unmap(&mut self, gpa: GuestPhysAddr, size: u64) -> Result<(), Stage2Error> {
        self.check(gpa, None, size)?;
        let (lo, hi) = (gpa.as_u64(), gpa.as_u64() + size);
        self.split_at(lo)?;
        self.split_at(hi)?;
        let root = self.root_table();
        self.edit(root, lo, hi, Edit::Clear);
        Ok(())
    }

    /// Gives every page of `[gpa, gpa + size)` the permissions `perms`, keeping output
    /// addresses and memory types. The whole range must be mapped
    /// ([`Stage2Error::NotMapped`] otherwise); on any error nothing changes.
    pub fn protect(
        &mut self,
        gpa: GuestPhysAddr,
        size: u64,
        perms: Perms,
    ) -> Result<(), Stage2Error> {
        self.check(gpa, None, size)?;
        self.check_perms(perms)?;
        let (lo, hi) = (gpa.as_u64(), gpa.as_u64() + size);
        if let Some(gpa) = self.first_unmapped(lo, hi) {
            return Err(Stage2Error::NotMapped { gpa });
        }
        self.split_at(lo)?;
        self.split_at(hi)?;
        let root = self.root_table();
        self.edit(root, lo, hi, Edit::Protect(perms));
        Ok(())
    }

    /// Where `gpa` goes, or `None` if it is unmapped or outside the IPA space.
    pub fn translate(&self, gpa: GuestPhysAddr) -> Option<Translation> {
        if gpa.as_u64() >= self.ipa_limit() {
            return None;
        }
        let leaf = self.find_leaf(gpa.as_u64())?;
        let offset = gpa.offset_from(leaf.gpa)?;
        Some(Translation {
            hpa: leaf.hpa.checked_add(offset)?,
            perms: leaf.attrs.perms,
            mem: leaf.attrs.mem,
            page_size: leaf.size,
        })
    }

    /// Calls `f` on every leaf descriptor, in guest-physical order.
    pub fn for_each_mapping(&self, mut f: impl FnMut(&Mapping)) {
        let root = self.root_table();
        let _ = self.visit(root, 0, self.ipa_limit(), &mut |span| {
            if let Span::Leaf(m) = span {
                f(&m);
            }
            ControlFlow::Continue(())
        });
    }

    /// Table frames retired by `unmap` and not yet given back to the pool.
    pub fn retired_frames(&self) -> usize {
        self.retired.len()
    }

    /// Gives retired table frames back to the pool.
    ///
    /// # Safety
    ///
    /// No CPU may still hold a walk-cache or TLB entry built from those frames: the
    /// stage-2 TLBs of this partition's VMID / EPTP were invalidated on every CPU since
    /// the `unmap` that retired them (or the tables were never installed).
    pub unsafe fn reclaim_retired(&mut self) {
        let mut pool = self.frames.lock();
        for frame in self.retired.drain(..) {
            // SAFETY: each retired frame was one single-frame allocation of this
            // Stage2, unlinked from the tables; the caller vouches for the caches.
            unsafe { pool.dealloc(frame, 1) };
        }
    }

    /// Frees every table frame, root included. (Dropping a `Stage2` instead leaks them,
    /// which is safe.)
    ///
    /// # Safety
    ///
    /// The tables must not be installed in any VTTBR_EL2 / EPTP, and no CPU may hold
    /// TLB or walk-cache entries built from them.
    pub unsafe fn destroy(mut self) {
        let root = self.root_table();
        self.for_each_table_below(root, &mut |s, frame| s.retired.push(frame));
        let (root, count) = (self.root, self.root_frames);
        // SAFETY: forwarded from the caller; nothing references the retired frames.
        unsafe { self.reclaim_retired() };
        // SAFETY: the root run was one `count`-frame allocation of this Stage2, and by
        // the caller's promise no walker can reach it any more.
        unsafe { self.frames.lock().dealloc(root, count) };
    }

    fn check(
        &self,
        gpa: GuestPhysAddr,
        hpa: Option<HostPhysAddr>,
        size: u64,
    ) -> Result<(), Stage2Error> {
        if size == 0 {
            return Err(Stage2Error::EmptyRange { gpa });
        }
        let hpa_aligned = hpa.is_none_or(|h| h.is_page_aligned());
        if !gpa.is_page_aligned() || !hpa_aligned || size & (PAGE_SIZE - 1) != 0 {
            return Err(Stage2Error::Misaligned { gpa, hpa, size });
        }
        let ipa_bits = self.format.ipa_bits();
        if !fits(gpa.as_u64(), size, ipa_bits) {
            return Err(Stage2Error::OutOfIpaRange {
                gpa,
                size,
                ipa_bits,
            });
        }
        let pa_bits = self.format.pa_bits();
        match hpa {
            Some(hpa) if !fits(hpa.as_u64(), size, pa_bits) => {
                Err(Stage2Error::OutputOutOfRange { hpa, size, pa_bits })
            }
            _ => Ok(()),
        }
    }

    fn check_perms(&self, perms: Perms) -> Result<(), Stage2Error> {
        match self.format.supports(perms) {
            true => Ok(()),
            false => Err(Stage2Error::UnsupportedPerms { perms }),
        }
    }

    /// The largest leaf level usable at `gpa` -> `hpa` with `remaining` bytes to go.
    fn leaf_level(&self, gpa: u64, hpa: u64, remaining: u64) -> u8 {
        (self.format.start_level()..LAST_LEVEL)
            .find(|&level| {
                let size = level_size(level);
                self.format.leaf_allowed(level)
                    && (gpa | hpa) & (size - 1) == 0
                    && remaining >= size
            })
            .unwrap_or(LAST_LEVEL)
    }

    fn first_mapped(&self, lo: u64, hi: u64) -> Option<GuestPhysAddr> {
        let mut found = None;
        let _ = self.visit(self.root_table(), lo, hi, &mut |span| match span {
            Span::Leaf(m) => {
                found = Some(GuestPhysAddr::new(m.gpa.as_u64().max(lo)));
                ControlFlow::Break(())
            }
            Span::Hole { .. } => ControlFlow::Continue(()),
        });
        found
    }

    fn first_unmapped(&self, lo: u64, hi: u64) -> Option<GuestPhysAddr> {
        let mut found = None;
        let _ = self.visit(self.root_table(), lo, hi, &mut |span| match span {
            Span::Hole { start } => {
                found = Some(GuestPhysAddr::new(start));
                ControlFlow::Break(())
            }
            Span::Leaf(_) => ControlFlow::Continue(()),
        });
        found
    }
}

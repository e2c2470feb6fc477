//! The table walker: reading, writing, growing, splitting and pruning table frames.
//!
//! Everything here works on raw `u64` guest-physical addresses inside one walk; the
//! public API in `engine` checks and converts the typed addresses before calling in.
//! Invariant: every `Table` handed around is the root run or a frame this `Stage2`
//! took from its pool and has not retired, and its level matches its depth.

use core::cmp::{max, min};
use core::ops::ControlFlow;

use super::engine::{Mapping, Stage2};
use super::format::{
    level_size, Attrs, Descriptor, DescriptorFormat, Perms, ENTRIES_PER_TABLE, LAST_LEVEL,
};
use super::frames::PhysMemory;
use super::Stage2Error;
use crate::addr::{GuestPhysAddr, HostPhysAddr, PAGE_SIZE};

/// One table frame (or the concatenated root) and the level of its entries.
#[derive(Clone, Copy, Debug)]
pub(super) struct Table {
    pub(super) hpa: HostPhysAddr,
    pub(super) level: u8,
}

/// A piece of a guest-physical range as the walker finds it.
pub(super) enum Span {
    /// Unmapped from `start` up to the next span (or the end of the walked range).
    Hole { start: u64 },
    /// One whole leaf descriptor, which overlaps the range walked.
    Leaf(Mapping),
}

/// What `edit` does to each leaf lying wholly inside its range.
#[derive(Clone, Copy)]
pub(super) enum Edit {
    /// Invalidate it, and retire tables that become empty.
    Clear,
    /// Re-encode it with these permissions.
    Protect(Perms),
}

impl<F: DescriptorFormat, M: PhysMemory> Stage2<'_, F, M> {
    /// The root table.
    pub(super) fn root_table(&self) -> Table {
        Table {
            hpa: self.root,
            level: self.format.start_level(),
        }
    }

    fn child(t: Table, next: HostPhysAddr) -> Table {
        Table {
            hpa: next,
            level: t.level + 1,
        }
    }

    /// Index of the entry of `t` that covers `gpa` (which lies inside `t`'s span).
    fn index(&self, t: Table, gpa: u64) -> usize {
        let entries = if t.level == self.format.start_level() {
            self.root_frames * ENTRIES_PER_TABLE
        } else {
            ENTRIES_PER_TABLE
        };
        (gpa >> super::format::level_shift(t.level)) as usize & (entries - 1)
    }

    fn entry_ptr(&self, t: Table, index: usize) -> *mut u64 {
        let frame = t.hpa.as_u64() + (index / ENTRIES_PER_TABLE) as u64 * PAGE_SIZE;
        let base = self.phys.frame_ptr(HostPhysAddr::new(frame));
        base.wrapping_add(index % ENTRIES_PER_TABLE)
    }

    fn read(&self, t: Table, index: usize) -> u64 {
        // SAFETY: by the walker invariant `t` is a live table of ours, and `index` comes
        // from `Self::index`, so the entry lies in one of its frames; `PhysMemory`
        // makes the pointer valid and aligned for the whole frame.
        unsafe { self.entry_ptr(t, index).read_volatile() }
    }

    fn write(&mut self, t: Table, index: usize, raw: u64) {
        // SAFETY: as in `read`; `&mut self` makes this the only writer, and a single
        // aligned 64-bit store is what the hardware walker expects to observe.
        unsafe { self.entry_ptr(t, index).write_volatile(raw) }
    }

    /// The entry of `t` covering `gpa`, decoded; tables below the last level only.
    fn decode_at(&self, t: Table, gpa: u64) -> (usize, Descriptor) {
        let index = self.index(t, gpa);
        match self.format.decode(t.level, self.read(t, index)) {
            Descriptor::Table(_) if t.level >= LAST_LEVEL => (index, Descriptor::Invalid),
            d => (index, d),
        }
    }

    /// A fresh zeroed (all-invalid) table frame.
    pub(super) fn alloc_frames(&self, count: usize) -> Result<HostPhysAddr, Stage2Error> {
        let hpa = self.frames.lock().alloc_zeroed(&self.phys, count);
        let hpa = hpa.ok_or(Stage2Error::OutOfFrames)?;
        let size = count as u64 * PAGE_SIZE;
        if !super::engine::fits(hpa.as_u64(), size, self.format.pa_bits()) {
            // SAFETY: just allocated with this count and never published anywhere.
            unsafe { self.frames.lock().dealloc(hpa, count) };
            let pa_bits = self.format.pa_bits();
            return Err(Stage2Error::OutputOutOfRange { hpa, size, pa_bits });
        }
        Ok(hpa)
    }

    /// The table below `t`'s entry for `gpa`, created (empty, or by splitting a leaf
    /// into next-level leaves) if there is none yet.
    fn child_for_write(&mut self, t: Table, gpa: u64) -> Result<Table, Stage2Error> {
        match self.decode_at(t, gpa) {
            (_, Descriptor::Table(next)) => Ok(Self::child(t, next)),
            (index, Descriptor::Invalid) => {
                let next = self.alloc_frames(1)?;
                self.write(t, index, self.format.encode_table(t.level, next));
                Ok(Self::child(t, next))
            }
            (index, Descriptor::Leaf { hpa, attrs }) => self.split(t, index, hpa, attrs),
        }
    }

    /// Replaces the leaf at `t[index]` by a table of next-level leaves that translate
    /// exactly the same way. The new table is filled before it is linked in.
    fn split(
        &mut self,
        t: Table,
        index: usize,
        hpa: HostPhysAddr,
        attrs: Attrs,
    ) -> Result<Table, Stage2Error> {
        let next = self.alloc_frames(1)?;
        let child = Self::child(t, next);
        let step = level_size(child.level);
        for i in 0..ENTRIES_PER_TABLE {
            let out = HostPhysAddr::new(hpa.as_u64() + i as u64 * step);
            self.write(child, i, self.format.encode_leaf(child.level, out, attrs));
        }
        self.write(t, index, self.format.encode_table(t.level, next));
        Ok(child)
    }

    /// Makes the entry at `level` covering `gpa` a leaf for `hpa`, growing tables on the
    /// way down. The caller checked that no live leaf overlaps the entry.
    pub(super) fn set_leaf(
        &mut self,
        gpa: u64,
        level: u8,
        hpa: HostPhysAddr,
        attrs: Attrs,
    ) -> Result<(), Stage2Error> {
        let mut t = self.root_table();
        while t.level < level {
            t = self.child_for_write(t, gpa)?;
        }
        let (index, old) = self.decode_at(t, gpa);
        if let Descriptor::Table(next) = old {
            // Only an empty subtree can be here; do not leak its frames.
            self.retire_subtree(Self::child(t, next));
        }
        self.write(t, index, self.format.encode_leaf(level, hpa, attrs));
        Ok(())
    }

    /// Splits leaves until none straddles `gpa`, so that ranges starting or ending at
    /// `gpa` cover whole leaves. Translations do not change.
    pub(super) fn split_at(&mut self, gpa: u64) -> Result<(), Stage2Error> {
        if gpa >= self.ipa_limit() {
            return Ok(());
        }
        let mut t = self.root_table();
        loop {
            match self.decode_at(t, gpa) {
                (_, Descriptor::Invalid) => return Ok(()),
                (_, Descriptor::Table(next)) => t = Self::child(t, next),
                (_, Descriptor::Leaf { .. }) if gpa & (level_size(t.level) - 1) == 0 => {
                    return Ok(())
                }
                (index, Descriptor::Leaf { hpa, attrs }) => t = self.split(t, index, hpa, attrs)?,
            }
        }
    }

    /// Applies `op` to every leaf of `t` inside `[lo, hi)`; returns whether `t` (not the
    /// root) was left empty by a [`Edit::Clear`], in which case the caller unlinks it.
    /// The caller has split the boundaries, so every leaf met lies wholly inside.
    pub(super) fn edit(&mut self, t: Table, lo: u64, hi: u64, op: Edit) -> bool {
        let size = level_size(t.level);
        let mut base = lo & !(size - 1);
        while base < hi {
            match self.decode_at(t, base) {
                (_, Descriptor::Invalid) => {}
                (index, Descriptor::Leaf { hpa, attrs }) => {
                    debug_assert!(lo <= base && base + size <= hi, "unsplit boundary");
                    let raw = match op {
                        Edit::Clear => F::INVALID,
                        Edit::Protect(perms) => {
                            self.format
                                .encode_leaf(t.level, hpa, Attrs { perms, ..attrs })
                        }
                    };
                    self.write(t, index, raw);
                }
                (index, Descriptor::Table(next)) => {
                    let child = Self::child(t, next);
                    if self.edit(child, max(lo, base), min(hi, base + size), op) {
                        self.write(t, index, F::INVALID);
                        self.retired.push(child.hpa);
                    }
                }
            }
            base += size;
        }
        matches!(op, Edit::Clear) && t.level != self.format.start_level() && self.is_empty(t)
    }

    fn is_empty(&self, t: Table) -> bool {
        (0..ENTRIES_PER_TABLE)
            .all(|i| self.format.decode(t.level, self.read(t, i)) == Descriptor::Invalid)
    }

    /// Retires `t` and every table below it (their frames go back to the pool on the
    /// next `reclaim_retired`).
    pub(super) fn retire_subtree(&mut self, t: Table) {
        self.for_each_table_below(t, &mut |s, frame| s.retired.push(frame));
        self.retired.push(t.hpa);
    }

    /// Calls `f` on every table frame strictly below `t`, children before parents.
    pub(super) fn for_each_table_below(
        &mut self,
        t: Table,
        f: &mut dyn FnMut(&mut Self, HostPhysAddr),
    ) {
        if t.level >= LAST_LEVEL {
            return;
        }
        for i in 0..ENTRIES_PER_TABLE {
            if let Descriptor::Table(next) = self.format.decode(t.level, self.read(t, i)) {
                self.for_each_table_below(Self::child(t, next), f);
                f(self, next);
            }
        }
    }

    /// Reports the holes and leaves of `t` overlapping `[lo, hi)` in address order, until
    /// `f` breaks.
    pub(super) fn visit(
        &self,
        t: Table,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(Span) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let size = level_size(t.level);
        let mut base = lo & !(size - 1);
        while base < hi {
            let (start, end) = (max(lo, base), min(hi, base + size));
            match self.decode_at(t, base).1 {
                Descriptor::Invalid => f(Span::Hole { start })?,
                Descriptor::Leaf { hpa, attrs } => {
                    let gpa = GuestPhysAddr::new(base);
                    f(Span::Leaf(Mapping {
                        gpa,
                        hpa,
                        size,
                        attrs,
                    }))?
                }
                Descriptor::Table(next) => self.visit(Self::child(t, next), start, end, f)?,
            }
            base += size;
        }
        ControlFlow::Continue(())
    }

    /// The leaf covering `gpa`, if any.
    pub(super) fn find_leaf(&self, gpa: u64) -> Option<Mapping> {
        let mut t = self.root_table();
        loop {
            match self.decode_at(t, gpa).1 {
                Descriptor::Invalid => return None,
                Descriptor::Table(next) => t = Self::child(t, next),
                Descriptor::Leaf { hpa, attrs } => {
                    let size = level_size(t.level);
                    let gpa = GuestPhysAddr::new(gpa & !(size - 1));
                    return Some(Mapping {
                        gpa,
                        hpa,
                        size,
                        attrs,
                    });
                }
            }
        }
    }
}

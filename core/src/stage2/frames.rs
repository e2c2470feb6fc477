//! Where table frames come from (a buddy pool) and how the engine reaches them.
//!
//! The engine names table frames by host-physical address. [`PhysMemory`] turns such an
//! address into a pointer: the identity on the target (the hypervisor maps RAM 1:1),
//! an [`Arena`] of ordinary heap memory on the host, so the engine runs in `cargo test`.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::{self, NonNull};

use buddy_system_allocator::FrameAllocator;

use super::format::ENTRIES_PER_TABLE;
use crate::addr::{HostPhysAddr, Range, PAGE_SIZE};

/// Reaches table frames by host-physical address.
///
/// # Safety
///
/// For every frame of every range given to a [`TableFrames`] pool that is used with
/// this memory, `frame_ptr` must return a pointer that is 8-byte aligned, valid for
/// reads and writes of [`PAGE_SIZE`] bytes for as long as `self` lives, and that
/// reaches the very memory the hardware table walker reads at that address.
pub unsafe trait PhysMemory {
    /// The hypervisor's pointer to the 4 KiB frame at `frame`.
    fn frame_ptr(&self, frame: HostPhysAddr) -> *mut u64;
}

// SAFETY: forwards to `T`, which upholds the contract.
unsafe impl<T: PhysMemory + ?Sized> PhysMemory for &T {
    fn frame_ptr(&self, frame: HostPhysAddr) -> *mut u64 {
        (**self).frame_ptr(frame)
    }
}

/// The target's view: the hypervisor maps RAM at its physical address.
#[derive(Clone, Copy, Debug)]
pub struct IdentityMemory(());

impl IdentityMemory {
    /// The identity view.
    ///
    /// # Safety
    ///
    /// Every RAM range later given to a [`TableFrames`] pool used with this memory must
    /// be mapped read-write, as normal cacheable memory, at the same virtual address in
    /// the hypervisor's own address space, for the rest of the hypervisor's life.
    pub const unsafe fn new() -> Self {
        Self(())
    }
}

// SAFETY: `IdentityMemory::new`'s caller promised the 1:1 read-write mapping.
unsafe impl PhysMemory for IdentityMemory {
    fn frame_ptr(&self, frame: HostPhysAddr) -> *mut u64 {
        frame.as_u64() as usize as *mut u64
    }
}

/// A pool of 4 KiB table frames, handed out zeroed and naturally aligned.
///
/// Built on `buddy_system_allocator::FrameAllocator`, indexed by frame number
/// (`hpa >> 12`). One pool may serve every partition's tables.
pub struct TableFrames {
    pool: FrameAllocator,
    free: usize,
}

impl TableFrames {
    /// An empty pool.
    pub const fn new() -> Self {
        Self {
            pool: FrameAllocator::new(),
            free: 0,
        }
    }

    /// Adds the whole frames inside `range` to the pool.
    ///
    /// # Safety
    ///
    /// The range must be RAM that nothing else uses or will use (the pool owns it from
    /// now on), disjoint from every range added before, and reachable through every
    /// [`PhysMemory`] this pool is later used with.
    pub unsafe fn add_range(&mut self, range: Range<HostPhysAddr>) {
        let Some(start) = range.start.align_up(PAGE_SIZE) else {
            return;
        };
        let end = range.last().as_u64().saturating_add(1) & !(PAGE_SIZE - 1);
        if start.as_u64() < end {
            let (first, last) = (frame_no(start), (end / PAGE_SIZE) as usize);
            self.pool.add_frame(first, last);
            self.free += last - first;
        }
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// `count` (a power of two, at most 16) contiguous frames aligned to their total
    /// size, zeroed through `mem`; `None` if the pool cannot supply them.
    pub fn alloc_zeroed<M: PhysMemory>(&mut self, mem: &M, count: usize) -> Option<HostPhysAddr> {
        if !count.is_power_of_two() || count > 16 {
            return None;
        }
        let first = self.pool.alloc(count)?;
        self.free -= count;
        let start = HostPhysAddr::new(first as u64 * PAGE_SIZE);
        for i in 0..count as u64 {
            let frame = HostPhysAddr::new(start.as_u64() + i * PAGE_SIZE);
            // SAFETY: the frame was just taken from this pool, so by `add_range`'s
            // contract it is unused RAM reachable through `mem`, and `PhysMemory`
            // guarantees the pointer is valid for a whole frame.
            unsafe { ptr::write_bytes(mem.frame_ptr(frame), 0, ENTRIES_PER_TABLE) };
        }
        Some(start)
    }

    /// Returns frames to the pool.
    ///
    /// # Safety
    ///
    /// `start` and `count` must be exactly those of one earlier [`Self::alloc_zeroed`]
    /// on this pool, and nothing (including a hardware table walker or a TLB entry
    /// built from them) may use those frames any more.
    pub unsafe fn dealloc(&mut self, start: HostPhysAddr, count: usize) {
        self.pool.dealloc(frame_no(start), count);
        self.free += count;
    }
}

impl Default for TableFrames {
    fn default() -> Self {
        Self::new()
    }
}

fn frame_no(hpa: HostPhysAddr) -> usize {
    (hpa.as_u64() / PAGE_SIZE) as usize
}

/// Heap memory posing as a range of host-physical frames, for running the engine on the
/// host (tests, and host tools that want to inspect tables).
pub struct Arena {
    base: HostPhysAddr,
    frames: usize,
    layout: Layout,
    mem: NonNull<u64>,
}

impl Arena {
    /// An arena of `frames` zeroed frames pretending to live at `base`, and a pool that
    /// hands them out. `None` if `base` is not 4 KiB aligned, `frames` is zero, the
    /// range wraps, or the heap is exhausted.
    pub fn new(base: HostPhysAddr, frames: usize) -> Option<(Self, TableFrames)> {
        let bytes = frames.checked_mul(PAGE_SIZE as usize)?;
        let range = Range::<HostPhysAddr>::new(base, bytes as u64)?;
        if !base.is_page_aligned() {
            return None;
        }
        let layout = Layout::from_size_align(bytes, PAGE_SIZE as usize).ok()?;
        // SAFETY: `layout` has a non-zero size (`Range::new` refused size zero).
        let mem = NonNull::new(unsafe { alloc_zeroed(layout) }.cast::<u64>())?;
        let arena = Self {
            base,
            frames,
            layout,
            mem,
        };
        let mut pool = TableFrames::new();
        // SAFETY: the arena owns this memory exclusively and `frame_ptr` covers exactly
        // `range`; the fresh pool holds no other range.
        unsafe { pool.add_range(range) };
        Some((arena, pool))
    }
}

// SAFETY: every frame of the arena's range maps to its own 4 KiB-aligned slice of the
// allocation, which lives as long as the arena; other addresses never yield a pointer.
unsafe impl PhysMemory for Arena {
    /// # Panics
    ///
    /// If `frame` lies outside the arena: the engine only follows frames it took from
    /// the arena's own pool, so this means the arena was paired with a foreign pool.
    fn frame_ptr(&self, frame: HostPhysAddr) -> *mut u64 {
        let index = frame.offset_from(self.base).map(|off| off / PAGE_SIZE);
        match index {
            Some(i) if (i as usize) < self.frames && frame.is_page_aligned() => self
                .mem
                .as_ptr()
                .wrapping_add(i as usize * ENTRIES_PER_TABLE),
            _ => panic!("{frame} is not a frame of this arena"),
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `mem` came from `alloc_zeroed` with this very layout in `new`.
        unsafe { dealloc(self.mem.as_ptr().cast(), self.layout) };
    }
}

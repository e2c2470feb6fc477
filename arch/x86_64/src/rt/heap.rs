//! The hypervisor heap: a buddy allocator that starts on a small region in `.bss` (enough
//! to read the boot information) and grows onto the heap range of the hypervisor's RAM
//! once the bundle is in place.

use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

const EARLY: usize = 64 << 10;

#[repr(C, align(4096))]
struct Early([u8; EARLY]);

static mut EARLY_HEAP: Early = Early([0; EARLY]);

/// Starts the heap on the early region; call once, first thing.
pub fn init_early() {
    // SAFETY: the early region is a static used by nothing else; this runs once on the
    // boot CPU before any allocation.
    unsafe { HEAP.lock().init(core::ptr::addr_of_mut!(EARLY_HEAP) as usize, EARLY) };
}

/// Adds `[start, start + size)` to the heap.
///
/// # Safety
/// The range must be identity-mapped RAM owned by the hypervisor, used for nothing else
/// and never mapped into a partition.
pub unsafe fn add(start: usize, size: usize) {
    // SAFETY: the caller guarantees the range is ours alone.
    unsafe { HEAP.lock().add_to_heap(start, start + size) };
}

/// Bytes currently allocated.
pub fn in_use() -> usize {
    HEAP.lock().stats_alloc_actual()
}

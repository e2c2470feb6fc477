//! The hypervisor heap: a buddy allocator over a range of its own RAM.

use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

/// Hands `[start, start + size)` to the allocator.
///
/// # Safety
/// The range must be identity-mapped RAM owned by the hypervisor, used for nothing else
/// and never mapped into a partition; call once.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: the caller guarantees the range is ours alone.
    unsafe { HEAP.lock().init(start, size) };
}

/// Bytes currently allocated.
pub fn in_use() -> usize {
    HEAP.lock().stats_alloc_actual()
}

//! Per-vCPU queue of virtual interrupts waiting for a list register.

use core::sync::atomic::{AtomicU32, Ordering};

use super::intid::{bits, NR_INTIDS};
use super::lr::{inject, Full, ListRegs};

/// Virtual INTIDs pending for one vCPU but not yet in its list registers: SGIs sent from
/// other physical CPUs, and interrupts that found the list registers full.
///
/// Lock-free: any CPU may [`post`](Self::post) (then kick the target CPU with a physical
/// SGI); only the CPU running the vCPU [`drain`](Self::drain)s, on its next guest entry.
pub struct PendingIrqs {
    words: [AtomicU32; NR_INTIDS / 32],
    /// Bit n set when word n may hold something: keeps the empty check, made on every
    /// guest entry, to one load.
    summary: AtomicU32,
}

impl Default for PendingIrqs {
    fn default() -> Self {
        Self::new()
    }
}

impl PendingIrqs {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU32::new(0) }; NR_INTIDS / 32],
            summary: AtomicU32::new(0),
        }
    }

    /// Queues `intid` (< 1024); returns whether it was not queued already.
    pub fn post(&self, intid: u32) -> bool {
        let Some(word) = self.words.get(intid as usize / 32) else {
            return false;
        };
        let bit = 1 << (intid % 32);
        let fresh = word.fetch_or(bit, Ordering::Release) & bit == 0;
        self.summary.fetch_or(1 << (intid / 32), Ordering::Release);
        fresh
    }

    /// Removes `intid` from the queue (the guest cleared its pending state).
    pub fn cancel(&self, intid: u32) {
        if let Some(word) = self.words.get(intid as usize / 32) {
            word.fetch_and(!(1 << (intid % 32)), Ordering::AcqRel);
        }
    }

    /// Empties the queue (the vCPU is being reset).
    pub fn clear(&self) {
        self.summary.store(0, Ordering::Release);
        self.words.iter().for_each(|w| w.store(0, Ordering::Release));
    }

    /// Whether `intid` is queued.
    pub fn is_pending(&self, intid: u32) -> bool {
        self.words
            .get(intid as usize / 32)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (intid % 32)) != 0)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.summary.load(Ordering::Acquire) == 0
    }

    /// Moves queued interrupts into `lrs`, lowest INTID first, and returns how many.
    /// `lookup(intid)` gives the priority and physical INTID (for hardware-mapped ones)
    /// or `None` to keep the interrupt queued (e.g. the guest has it disabled). On
    /// [`Full`] everything not injected stays queued.
    ///
    /// # Safety
    /// Every physical INTID `lookup` returns must satisfy [`inject`]'s contract.
    pub unsafe fn drain(
        &self,
        lrs: &mut impl ListRegs,
        mut lookup: impl FnMut(u32) -> Option<(u8, Option<u32>)>,
    ) -> Result<usize, Full> {
        let mut injected = 0;
        let summary = self.summary.swap(0, Ordering::AcqRel);
        for n in bits(summary).map(|n| n as usize) {
            let word = &self.words[n];
            let taken = word.swap(0, Ordering::Acquire);
            let mut keep = taken;
            for b in bits(taken) {
                let intid = 32 * n as u32 + b;
                let Some((priority, hw)) = lookup(intid) else {
                    continue;
                };
                // SAFETY: the caller vouches for `lookup`'s physical INTIDs.
                if unsafe { inject(lrs, intid, priority, hw) }.is_err() {
                    word.fetch_or(keep, Ordering::Release);
                    // Everything from this word on is still queued.
                    self.summary.fetch_or(summary & !((1u32 << n) - 1), Ordering::Release);
                    return Err(Full);
                }
                keep &= !(1 << b);
                injected += 1;
            }
            if keep != 0 {
                word.fetch_or(keep, Ordering::Release);
                self.summary.fetch_or(1 << n, Ordering::Release);
            }
        }
        Ok(injected)
    }
}

//! INTID ranges and a fixed-size INTID bitmap.

/// INTIDs 0..1023: SGIs 0..15, PPIs 16..31, SPIs 32..1019, special 1020..1023.
pub const NR_INTIDS: usize = 1024;
/// First SPI.
pub const SPI_FIRST: u32 = 32;
/// Last SPI (IHI 0069 2.2).
pub const SPI_LAST: u32 = 1019;

/// A set of INTIDs below [`NR_INTIDS`], stored as the 32 words of a GIC bit register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntIdSet {
    words: [u32; NR_INTIDS / 32],
}

impl Default for IntIdSet {
    fn default() -> Self {
        Self::new()
    }
}

impl IntIdSet {
    /// The empty set.
    pub const fn new() -> Self {
        Self {
            words: [0; NR_INTIDS / 32],
        }
    }

    /// Whether `intid` is in the set.
    pub fn contains(&self, intid: u32) -> bool {
        self.word(intid as usize / 32) & (1 << (intid % 32)) != 0
    }

    /// Adds or removes `intid` (ignored if it is not below [`NR_INTIDS`]).
    pub fn set(&mut self, intid: u32, present: bool) {
        if let Some(w) = self.words.get_mut(intid as usize / 32) {
            if present {
                *w |= 1 << (intid % 32);
            } else {
                *w &= !(1 << (intid % 32));
            }
        }
    }

    /// Adds `intid`.
    pub fn insert(&mut self, intid: u32) {
        self.set(intid, true);
    }

    /// Word `n`: bit i is INTID 32n + i (0 for n out of range).
    pub fn word(&self, n: usize) -> u32 {
        self.words.get(n).copied().unwrap_or(0)
    }

    /// The members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(n, &w)| bits(w).map(move |b| 32 * n as u32 + b))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
}

/// The positions of the set bits of `mask`, ascending.
pub(crate) fn bits(mut mask: u32) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let b = mask.trailing_zeros();
            mask &= mask - 1;
            b
        })
    })
}

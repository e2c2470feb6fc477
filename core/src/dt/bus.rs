//! Addresses: `reg` pairs and their translation through the buses' `ranges` to CPU
//! addresses (Devicetree Specification v0.4, 2.3.6 and 2.3.8).

use alloc::format;
use alloc::vec::Vec;

use super::error::PropError;
use super::tree::Node;
use super::value::join;

/// One `ranges` window: `size` bytes at `child` on the bus appear at `parent` above it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// First address in the bus's (child) address space.
    pub child: u64,
    /// Where that address appears in the parent's address space.
    pub parent: u64,
    /// Window length in bytes.
    pub size: u64,
}

/// How one bus maps its children's addresses into its parent's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Level {
    /// An empty `ranges;`: the same addresses.
    Identity,
    /// Only what these windows cover.
    Windows(Vec<Window>),
}

impl Node<'_> {
    /// `reg` as `(address, size)` pairs under the parent's `(#address-cells,
    /// #size-cells)`; sizes are 0 when `#size-cells` is 0. Empty when there is no `reg`.
    pub fn reg(self, (ac, sc): (usize, usize)) -> Result<Vec<(u64, u64)>, PropError> {
        let Some(value) = self.prop("reg") else {
            return Ok(Vec::new());
        };
        if !(1..=2).contains(&ac) || sc > 2 {
            let reason = format!("cannot read addresses of {ac} cells and sizes of {sc} cells");
            return Err(self.error("reg", reason));
        }
        let n = (ac + sc) * 4;
        if value.is_empty() || value.len() % n != 0 {
            return Err(self.entries_error("reg", ac + sc, value));
        }
        Ok(value.chunks_exact(n).map(|e| e.split_at(ac * 4)).map(|(a, s)| (be(a), be(s))).collect())
    }

    /// This bus's `ranges`, its parent using `parent_address` address cells. `Ok(None)`
    /// when there is none, or when some cell count is not 1 or 2 (PCI): the children
    /// are then not memory-mapped as far as this reader can tell.
    pub fn ranges(self, parent_address: usize) -> Result<Option<Level>, PropError> {
        let (ca, sc) = self.cell_sizes()?;
        let Some(value) = self.prop("ranges") else {
            return Ok(None);
        };
        if value.is_empty() {
            return Ok(Some(Level::Identity));
        }
        if ![ca, sc, parent_address].iter().all(|c| (1..=2).contains(c)) {
            return Ok(None);
        }
        let n = ca + parent_address + sc;
        let windows = self.entries("ranges", n)?;
        let windows = windows.chunks_exact(n).filter_map(|e| {
            let (c, rest) = e.split_at_checked(ca)?;
            let (p, s) = rest.split_at_checked(parent_address)?;
            Some(Window { child: join(c)?, parent: join(p)?, size: join(s)? })
        });
        Ok(Some(Level::Windows(windows.collect())))
    }
}

/// `[addr, addr + size)` on the innermost bus of `levels` (outermost first), seen from
/// the CPU; `None` when some level has no window holding all of it.
pub fn translate(levels: &[Level], addr: u64, size: u64) -> Option<u64> {
    levels.iter().rev().try_fold(addr, |addr, level| match level {
        Level::Identity => Some(addr),
        Level::Windows(windows) => windows.iter().find_map(|w| {
            let offset = addr.checked_sub(w.child)?;
            (offset.checked_add(size)? <= w.size).then_some(w.parent.checked_add(offset)?)
        }),
    })
}

/// Big-endian bytes as a number (0 for none).
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b))
}

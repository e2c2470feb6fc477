//! The stage-2 engine: one generic table walker for every architecture's descriptors.
//!
//! An architecture supplies a [`DescriptorFormat`] (which bits mean what); this module
//! supplies the algorithms ([`Stage2`]: map with automatic block selection, unmap,
//! protect, translate), the table-frame pool ([`TableFrames`]) and the way frames are
//! reached ([`PhysMemory`]: identity on the target, an [`Arena`] on the host). With the
//! `testing` feature, `conformance` holds property checks any format can run.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod engine;
mod error;
mod format;
mod frames;
mod plan;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod toy;
mod walk;

pub use engine::{Mapping, Stage2, Translation};
pub use error::Stage2Error;
pub use format::{
    level_shift, level_size, Attrs, Descriptor, DescriptorFormat, MemType, Perms,
    ENTRIES_PER_TABLE, LAST_LEVEL,
};
pub use frames::{Arena, IdentityMemory, PhysMemory, TableFrames};
pub use plan::{count_frames, grant_name, map_regions, partition_regions, Grant, Region};

//! x86 I/O ports in validation: every port range is held by one owner at most, and no
//! partition's passthrough range covers a port the hypervisor emulates for it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::platform::PlatformDevice;
use super::target::PortWindow;
use crate::addr::{IoPort, Range};
use crate::dt::Quoted;

/// Port ranges held so far: by the hypervisor's console and the partitions' devices.
#[derive(Default)]
pub(super) struct PortClaims<'c> {
    held: Vec<(Range<IoPort>, &'c str, String)>,
}

/// `PORT:0x3f8..PORT:0x400` (end exclusive).
fn ports(range: &Range<IoPort>) -> String {
    format!("{}..PORT:{:#x}", range.start, range.start.as_u64() + range.size)
}

impl<'c> PortClaims<'c> {
    /// Records `device`'s ports for `owner` (e.g. `partition "alpha"`), unless another
    /// owner holds one of them or one lies in a window the hypervisor emulates there.
    pub(super) fn claim(&mut self, device: &'c PlatformDevice, owner: &str, emulated: &[PortWindow]) -> Result<(), String> {
        for range in &device.ports {
            if let Some((theirs, other, by)) = self.held.iter().find(|(r, _, by)| by != owner && r.overlaps(range)) {
                return Err(format!(
                    "{}: ports {} overlap {} ({}) of {by}",
                    Quoted(&device.path),
                    ports(range),
                    ports(theirs),
                    Quoted(other)
                ));
            }
            if let Some(w) = emulated.iter().find(|w| w.range.overlaps(range)) {
                return Err(format!(
                    "{}: ports {} overlap {} ({}), which the hypervisor emulates",
                    Quoted(&device.path),
                    ports(range),
                    w.what,
                    ports(&w.range)
                ));
            }
        }
        self.held.extend(device.ports.iter().map(|r| (*r, device.path.as_str(), String::from(owner))));
        Ok(())
    }
}

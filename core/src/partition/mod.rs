//! Partitions at run time: the shared control block, exit dispatch and the vCPU loop.
//!
//! A partition's vCPUs run on several physical CPUs at once. They share one
//! [`PartitionCtl`]; every decision that affects more than one vCPU (start a vCPU,
//! stop or restart the partition) is taken under its lock, and the loser of a race
//! simply finds the work done.

mod dispatch;
mod lifecycle;
pub mod report;
mod run;

pub use dispatch::{dispatch, Action, Stop};
pub use lifecycle::{InvalidTransition, Lifecycle, State};
pub use run::{run_vcpu, step, Event, Fault, FaultKind, Host};

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use spin::Mutex;

use crate::addr::{GuestPhysAddr, IoPort};
use crate::config::{BadAccessPolicy, RestartPolicy};
use crate::vdev::{DeviceMap, VirtConsole};

/// Power state of one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuPower {
    /// Not running; its physical CPU waits.
    Off,
    /// Asked to start at `entry` with `context` in its first argument register.
    Pending {
        /// Entry point.
        entry: GuestPhysAddr,
        /// First argument.
        context: u64,
    },
    /// Running guest code (or about to).
    On,
}

struct Shared {
    life: Lifecycle,
    vcpus: Vec<VcpuPower>,
    /// Bit `i` set while vCPU `i` executes guest code.
    in_guest: u64,
    /// The last bad access taken under the `abort` policy (its repeats are not
    /// reported again: a probing loop gives one line, not thousands).
    last_abort: Option<FaultKind>,
}

/// Everything the vCPUs of one partition share.
pub struct PartitionCtl {
    /// Partition id (position in the config).
    pub id: usize,
    /// Partition name.
    pub name: String,
    /// What a fault leads to.
    pub restart: RestartPolicy,
    /// What an access outside everything the partition owns leads to (default: stop).
    pub bad_access: BadAccessPolicy,
    /// Emulated MMIO regions.
    pub devices: DeviceMap,
    /// Emulated I/O ports (x86).
    pub ports: DeviceMap<IoPort>,
    /// The virtual console, when the partition has one.
    pub console: Option<Arc<dyn VirtConsole>>,
    shared: Mutex<Shared>,
}

/// Most vCPUs a partition may have (one bit each in the in-guest mask).
pub const MAX_VCPUS: usize = 64;

impl PartitionCtl {
    /// A created partition with `vcpus` vCPUs (at most [`MAX_VCPUS`]), all off.
    pub fn new(id: usize, name: &str, vcpus: usize, restart: RestartPolicy) -> Self {
        let shared = Shared {
            life: Lifecycle::new(),
            vcpus: vec![VcpuPower::Off; vcpus.min(MAX_VCPUS)],
            in_guest: 0,
            last_abort: None,
        };
        Self {
            id,
            name: String::from(name),
            restart,
            bad_access: BadAccessPolicy::Stop,
            devices: DeviceMap::new(),
            ports: DeviceMap::new(),
            console: None,
            shared: Mutex::new(shared),
        }
    }

    /// Records an aborted bad access; whether it differs from the one before (and so is
    /// worth a report line).
    pub(crate) fn note_abort(&self, kind: FaultKind) -> bool {
        let mut s = self.shared.lock();
        let new = s.last_abort != Some(kind);
        s.last_abort = Some(kind);
        new
    }

    /// Number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.shared.lock().vcpus.len()
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.shared.lock().life.state()
    }

    /// Completed restarts.
    pub fn restarts(&self) -> u32 {
        self.shared.lock().life.restarts()
    }

    /// Power state of vCPU `index`.
    pub fn power(&self, index: usize) -> Option<VcpuPower> {
        self.shared.lock().vcpus.get(index).copied()
    }

    /// Marks the images loaded and starts vCPU 0 at `entry` with `arg`.
    pub fn boot(&self, entry: GuestPhysAddr, arg: u64) -> Result<(), InvalidTransition> {
        let mut s = self.shared.lock();
        if s.life.state() == State::Created {
            s.life.go(State::Loaded)?;
        }
        s.life.go(State::Running)?;
        if let Some(v) = s.vcpus.first_mut() {
            *v = VcpuPower::Pending { entry, context: arg };
        }
        Ok(())
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

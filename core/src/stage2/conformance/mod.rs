//! Property checks every descriptor format must pass with the generic engine.
//!
//! An arch crate runs these from its host tests (core's `testing` feature):
//! `conformance::run_all(&MyFormat::new(..))`, or one check per `#[test]`. Each check
//! panics with the failing input and the reason; property checks use proptest and
//! shrink to a minimal case first.
//!
//! [`config_isolation`] ties validation to the tables: it also needs a platform (e.g.
//! [`config_platform`]) and the build's [`crate::config::Target`], so `run_all` leaves it
//! out and each arch crate runs it on its own.

mod checks;
mod configs;
mod layout;
mod partitions;
mod props;

use alloc::string::String;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use spin::Mutex;

pub use checks::{block_selection, descriptor_roundtrip, out_of_frames, refusals};
pub use configs::{config_isolation, config_platform, ConfigCoverage, CONFIG_CASES};
pub use partitions::{disjoint_partitions, host_overlaps, host_ranges};
pub use props::{map_translate, protect_changes_only_range, unmap_undoes_map};

use super::{Arena, DescriptorFormat, Stage2, TableFrames};
use crate::addr::HostPhysAddr;

/// Cases each property check runs.
pub const CASES: u32 = 64;

/// Runs every check on `format`.
pub fn run_all<F: DescriptorFormat + Clone>(format: &F) {
    descriptor_roundtrip(format);
    block_selection(format);
    refusals(format);
    out_of_frames(format);
    map_translate(format);
    unmap_undoes_map(format);
    protect_changes_only_range(format);
    disjoint_partitions(format);
}

/// A heap arena posing as host RAM for table frames, and its pool.
pub struct Fixture {
    arena: Arena,
    frames: Mutex<TableFrames>,
}

impl Fixture {
    /// Where the arena pretends to live (below 4 GiB, so 32-bit PA formats reach it).
    pub const BASE: HostPhysAddr = HostPhysAddr::new(0x8000_0000);

    /// An arena of `frames` table frames.
    ///
    /// # Panics
    ///
    /// If the heap cannot supply it.
    pub fn new(frames: usize) -> Self {
        let (arena, pool) = Arena::new(Self::BASE, frames).expect("arena allocation");
        Self {
            arena,
            frames: Mutex::new(pool),
        }
    }

    /// Empty tables of `format` drawing on this arena.
    ///
    /// # Panics
    ///
    /// If the format's geometry is unsupported or the arena is too small for the root.
    pub fn stage2<F: DescriptorFormat>(&self, format: F) -> Stage2<'_, F, &Arena> {
        Stage2::new(format, &self.arena, &self.frames).expect("root table")
    }

    /// Frames left in the pool.
    pub fn free_frames(&self) -> usize {
        self.frames.lock().free_frames()
    }

    /// Takes frames from the pool until only `left` remain.
    pub fn drain_to(&self, left: usize) {
        let mut pool = self.frames.lock();
        while pool.free_frames() > left && pool.alloc_zeroed(&&self.arena, 1).is_some() {}
    }
}

/// Runs `test` on `cases` inputs from `strategy`, panicking with the shrunk failure.
fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), String>) {
    let mut config = Config::with_cases(CASES);
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| test(value).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("conformance check `{name}` failed: {e}");
    }
}

/// `Err(msg())` unless `cond`.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

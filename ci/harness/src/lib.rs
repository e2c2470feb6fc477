//! Scenario harness: boots bundles in QEMU and checks what each partition and the hypervisor print.
//!
//! A scenario (`ci/scenarios/<name>.toml`, see doc/testing.md) names a board and a config.
//! The harness builds the bundle with `cargo bh image` (once per board and config), boots
//! it with the board's emulator command, decodes the serial stream ([`log`]), attributes
//! each line to a partition or the hypervisor and feeds it to the matcher ([`check`]).
//! A scenario passes the moment every expectation is met, and fails on a forbidden line, a
//! broken heartbeat cadence, QEMU exiting, or its timeout.

pub mod check;
pub mod disk;
pub mod emulator;
pub mod image;
pub mod log;
pub mod scenario;
mod session;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use check::{Checker, Checks, Progress};
pub use scenario::{load_scenarios, Scenario};

use image::ImageCache;

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// Whether every check held.
    pub passed: bool,
    /// Wall-clock time, including the image build when this scenario triggered it.
    pub seconds: f64,
    /// Why it failed (with the last lines of output), or a short note on what passed.
    pub detail: String,
}

/// The repository root (found from this crate's place in it at compile time).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Where scenario files live.
pub fn scenario_dir() -> PathBuf {
    repo_root().join("ci/scenarios")
}

/// Runs every scenario whose name contains `filter` (all if `None`), one after another.
pub fn run_all(filter: Option<&str>) -> Vec<ScenarioResult> {
    run_all_with(filter, |_| {})
}

/// Like [`run_all`], calling `on_result` as each scenario finishes (for progress output).
pub fn run_all_with(
    filter: Option<&str>,
    mut on_result: impl FnMut(&ScenarioResult),
) -> Vec<ScenarioResult> {
    let scenarios = match load_scenarios(&scenario_dir()) {
        Ok(all) => all,
        Err(e) => return vec![report(&mut on_result, failure("scenario files", e))],
    };
    let selected: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        let detail = format!(
            "no scenario matches `{}`; there are: {}",
            filter.unwrap_or(""),
            names.join(", ")
        );
        return vec![report(&mut on_result, failure("scenario filter", detail))];
    }
    let mut cache = ImageCache::default();
    selected
        .into_iter()
        .map(|s| report(&mut on_result, run_cached(s, &mut cache)))
        .collect()
}

/// Runs one scenario, building its image.
pub fn run_one(scenario: &Scenario) -> ScenarioResult {
    run_cached(scenario, &mut ImageCache::default())
}

fn run_cached(scenario: &Scenario, cache: &mut ImageCache) -> ScenarioResult {
    let started = Instant::now();
    let root = repo_root();
    let (image, fresh) = cache.get(&root, &scenario.board, &scenario.config);
    let (passed, mut detail) = match image {
        Ok(image) => {
            let (passed, detail) = session::run(&root, scenario, &image);
            let built = if fresh {
                format!(" (image built in {:.1} s)", image.build_seconds)
            } else {
                String::new()
            };
            (passed, format!("{detail}{built}"))
        }
        Err(e) => (false, e),
    };
    if !passed {
        detail = format!(
            "{}: {detail}",
            scenario
                .file
                .strip_prefix(&root)
                .unwrap_or(&scenario.file)
                .display()
        );
    }
    ScenarioResult {
        name: scenario.name.clone(),
        passed,
        seconds: started.elapsed().as_secs_f64(),
        detail,
    }
}

fn failure(name: &str, detail: String) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        passed: false,
        seconds: 0.0,
        detail,
    }
}

fn report(on_result: &mut impl FnMut(&ScenarioResult), result: ScenarioResult) -> ScenarioResult {
    on_result(&result);
    result
}

/// The last `n` lines of `text`, each ending in a newline.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}

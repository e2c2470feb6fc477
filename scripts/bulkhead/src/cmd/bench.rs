//! `cargo bh bench`: path lengths on bare QEMU and under Bulkhead, one table (doc/bench.md).
//!
//! Every figure is counted, not timed: QEMU runs with `-icount shift=0,sleep=off` and a
//! 1 GHz counter, so one counter tick is one guest instruction and two runs give the
//! same numbers. The `bench` guest runs twice, alone on bare QEMU and as the only
//! partition of `boards/qemu-virt-arm64/bench.dts`; Debian's kernel boots both ways
//! (when `scripts/setup` has cached it); the static figures come from the hypervisor
//! ELF, a boot of the default demo and the source tree. Nothing is asserted: the
//! command prints the table and writes `target/bench/results.json` and `results.svg`.

mod linux;
mod qemu;
mod report;
mod sizes;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::{Cell, Row};

use super::{image, progress};
use crate::cli::BenchArgs;
use crate::board::Board;
use crate::error::{self, Error, Result};
use crate::{guests, repo};

/// The board the benchmark runs on (the guest and the config are made for it).
const BOARD: &str = "qemu-virt-arm64";
/// The benchmark's config, relative to the repository.
const CONFIG: &str = "boards/qemu-virt-arm64/bench.dts";
/// The bench guest's load address and entry, on bare QEMU as in the partition.
const GUEST_AT: &str = "0x50000000";
/// Longest a bench-guest run may take (wall clock; a run takes well under a second).
const GUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Ends the bench guest's output.
const DONE: &str = "BENCH done";

/// `cargo bh bench`.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let board = Board::load(BOARD)?;
    let out = repo::target_dir().join("bench");
    let config = repo::root().join(CONFIG);
    let made = image::image(&board, Some(&config), Some(out.join("bulkhead-bench.img")))?;

    progress("bench", "bench guest on bare QEMU");
    let guest = guests::guest_image(&board.arch, "bench", board.guest_elf);
    let bare = guest_run(&[
        "-device",
        &format!("loader,file={},addr={GUEST_AT},force-raw=on", guest.display()),
        "-device",
        &format!("loader,addr={GUEST_AT},cpu-num=0"),
    ])?;
    progress("bench", "bench guest under Bulkhead");
    let bulkhead = guest_run(&["-kernel", &made.image.to_string_lossy()])?;

    let mut rows = guest_rows(&bare, &bulkhead)?;
    rows.push(linux_row(&board, args.no_linux, &out));
    let sections = sizes::elf_sections(&made.elf)?;
    rows.extend(image_rows(&sections));
    let ram = footprint(&board, &out)?;
    rows.push(ram_row(&ram));
    let sloc = sizes::sloc(sizes::AARCH64_BUILD)?;
    rows.push(Row {
        key: "sloc",
        metric: "SLOC, aarch64 build".into(),
        unit: "lines",
        bare: None,
        bulkhead: Cell::int(sloc.total()),
    });

    crate::out::print(&report::table(&rows))?;
    let extra = [
        ("machine", report::json_str(&machine_line())),
        ("image_bytes", image_json(&sections)),
        ("ram_kib", ram_json(&ram)),
        ("sloc", sloc_json(&sloc)),
        ("raw", raw_json(&bare, &bulkhead)),
    ];
    let json = out.join("results.json");
    error::write(&json, report::json(&rows, &extra).as_bytes())?;
    let svg = out.join("results.svg");
    error::write(&svg, report::svg(&rows, &machine_line()).as_bytes())?;
    progress(
        "bench",
        format!(
            "wrote {} and {} in {:.0} s",
            repo::show(&json),
            repo::show(&svg),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// The emulator flags, for the record.
fn machine_line() -> String {
    format!("{} {}", qemu::QEMU, qemu::MACHINE.join(" "))
}

/// The bench guest's `BENCH key=value` lines of one run.
struct GuestRun {
    values: Vec<(String, String)>,
}

impl GuestRun {
    fn get(&self, key: &str) -> Result<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::new(format!("the bench guest printed no `BENCH {key}=`")))
    }

    fn cell(&self, key: &str) -> Result<Cell> {
        let v = self.get(key)?;
        Cell::parse(v).ok_or_else(|| Error::new(format!("`BENCH {key}={v}` is not a number")))
    }
}

fn guest_run(args: &[&str]) -> Result<GuestRun> {
    let run = qemu::run(&qemu::machine(args), None, DONE, GUEST_TIMEOUT)?;
    if let Some(err) = run.lines.iter().find(|l| l.starts_with("BENCH error")) {
        return Err(Error::new(format!("bench guest: {err}")));
    }
    if !run.lines.iter().any(|l| l.starts_with(DONE)) {
        return Err(Error::new(format!(
            "the bench guest stopped before `{DONE}`; last output:\n{}",
            run.tail(20)
        )));
    }
    let values = run
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("BENCH "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let guest = GuestRun { values };
    if guest.get("cntfrq")? != "1000000000" {
        return Err(Error::new("CNTFRQ is not 1 GHz: ticks would not be instructions"));
    }
    Ok(guest)
}

/// The bench guest's five figures, bare metal against Bulkhead.
fn guest_rows(bare: &GuestRun, bulkhead: &GuestRun) -> Result<Vec<Row>> {
    const FIGURES: [(&str, &str); 5] = [
        ("first_insn", "reset → first guest instruction"),
        ("hvc_rt", "HVC round trip (PSCI_VERSION)"),
        ("smc_rt", "SMC round trip (PSCI_VERSION)"),
        ("vtimer_lat", "virtual timer IRQ latency"),
        ("memwalk", "memory walk, 32 MiB at 4 KiB stride"),
    ];
    FIGURES
        .iter()
        .map(|&(key, metric)| {
            Ok(Row {
                key,
                metric: metric.into(),
                unit: "instructions",
                bare: Some(bare.cell(key)?),
                bulkhead: bulkhead.cell(key)?,
            })
        })
        .collect()
}

fn linux_row(board: &Board, skip: bool, out: &Path) -> Row {
    let row = |bare: Option<Cell>, bulkhead: Cell| Row {
        key: "linux_boot",
        metric: "Linux reset → user space".into(),
        unit: "virtual ns",
        bare,
        bulkhead,
    };
    let na = |why: &str| row(Some(Cell::Text(format!("n/a ({why})"))), Cell::Text(format!("n/a ({why})")));
    if skip {
        return na("--no-linux");
    }
    let Some(kernel) = linux::cached_kernel() else {
        return na("run scripts/setup");
    };
    let init = repo::target_dir()
        .join(&board.guest_target)
        .join("release")
        .join("bench-linux-init");
    match linux::measure(board, &kernel, &init, &out.join("linux")) {
        Ok(boots) => row(Some(Cell::int(boots.native)), Cell::int(boots.partition)),
        Err(e) => {
            progress("bench", format!("Linux row failed: {e}"));
            na("failed, see above")
        }
    }
}

fn image_rows(s: &sizes::Sections) -> Vec<Row> {
    vec![
        Row {
            key: "image_loadable",
            metric: "hypervisor image, loadable".into(),
            unit: "bytes",
            bare: None,
            bulkhead: Cell::int(s.loadable()),
        },
        Row {
            key: "image_sections",
            metric: "hypervisor image sections".into(),
            unit: "bytes",
            bare: None,
            bulkhead: Cell::Text(format!(
                ".text {} .rodata {} .data {} .bss {} (+ stacks {})",
                report::number(s.text as i64 * 1000),
                report::number(s.rodata as i64 * 1000),
                report::number(s.data as i64 * 1000),
                report::number(s.bss as i64 * 1000),
                report::number(s.stacks as i64 * 1000)
            )),
        },
    ]
}

fn image_json(s: &sizes::Sections) -> String {
    format!(
        "{{\"text\": {}, \"rodata\": {}, \"data\": {}, \"bss\": {}, \"stacks\": {}, \"loadable\": {}}}",
        s.text,
        s.rodata,
        s.data,
        s.bss,
        s.stacks,
        s.loadable()
    )
}

/// The hypervisor's `ram:` boot line: KiB of image + bundle, heap in use, stage-2 tables.
struct Ram {
    image_and_bundle: u64,
    heap: u64,
    tables: u64,
}

/// Boots the default demo (three partitions, the board's own QEMU command) until the
/// hypervisor logs its RAM use.
fn footprint(board: &Board, out: &Path) -> Result<Ram> {
    progress("bench", "RAM footprint: default demo");
    let made = image::image(board, None, Some(out.join("bulkhead-demo.img")))?;
    let mut argv = board.qemu.clone();
    argv.extend(["-kernel".to_string(), made.image.to_string_lossy().into_owned()]);
    const RAM_LINE: &str = "INFO  ram: ";
    let run = qemu::run(&argv, Some(&made.elf), RAM_LINE, GUEST_TIMEOUT)?;
    let line = run
        .value(RAM_LINE)
        .and(run.lines.iter().find(|l| l.starts_with(RAM_LINE)))
        .ok_or_else(|| Error::new("the demo logged no `ram:` line"))?;
    let after = |word: &str| -> Result<u64> {
        line.split(word)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::new(format!("cannot read `{word}` in `{line}`")))
    };
    Ok(Ram {
        image_and_bundle: after("image+bundle ")?,
        heap: after("heap ")?,
        tables: after("tables ")?,
    })
}

fn ram_row(r: &Ram) -> Row {
    Row {
        key: "ram",
        metric: "hypervisor RAM, demo: image+bundle + heap + stage-2".into(),
        unit: "KiB",
        bare: None,
        bulkhead: Cell::Text(format!(
            "{} + {} + {} = {}",
            r.image_and_bundle,
            r.heap,
            r.tables,
            r.image_and_bundle + r.heap + r.tables
        )),
    }
}

fn ram_json(r: &Ram) -> String {
    format!(
        "{{\"config\": \"boards/qemu-virt-arm64/config.dts\", \"image_and_bundle\": {}, \"heap_in_use\": {}, \"stage2_tables\": {}}}",
        r.image_and_bundle, r.heap, r.tables
    )
}

fn sloc_json(s: &sizes::Sloc) -> String {
    let crates: Vec<String> = s
        .crates
        .iter()
        .map(|(c, n)| format!("{}: {n}", report::json_str(c)))
        .collect();
    format!("{{{}, \"total\": {}}}", crates.join(", "), s.total())
}

/// Every `BENCH` line of both guest runs, as printed.
fn raw_json(bare: &GuestRun, bulkhead: &GuestRun) -> String {
    let obj = |g: &GuestRun| {
        let members: Vec<String> = g
            .values
            .iter()
            .map(|(k, v)| format!("{}: {}", report::json_str(k), report::json_str(v)))
            .collect();
        format!("{{{}}}", members.join(", "))
    };
    format!("{{\"bare_metal\": {}, \"bulkhead\": {}}}", obj(bare), obj(bulkhead))
}

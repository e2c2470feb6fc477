//! The CLI as a user meets it: help, version, refusals with file, line and a
//! suggestion, the JSON map and its documented schema, and a closed stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// `cargo bh <args>` (the built binary, run at the repository root).
fn bh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bh-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The default demo config with `edits` applied, its kernels a small file beside it
/// (so that no test guest needs building), written to `dir/config.dts`.
fn config(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text =
        std::fs::read_to_string(root().join("boards/qemu-virt-arm64/config.dts")).unwrap();
    text = text.replace("kernel = \"heartbeat\";", "kernel = \"kernel.bin\";");
    for (from, to) in edits {
        assert!(text.contains(from), "the default config has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(dir.join("kernel.bin"), vec![0xd5u8; 4096]).unwrap();
    let file = dir.join("config.dts");
    std::fs::write(&file, text).unwrap();
    file
}

/// The 1-based number of the first line of `file` containing `needle`.
fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn every_command_answers_help() {
    let top = bh(&["--help"]);
    assert!(top.status.success());
    for command in [
        "check",
        "build",
        "image",
        "run",
        "test",
        "bench",
        "completions",
        "help",
    ] {
        assert!(
            stdout(&top).contains(&format!("  {command} ")),
            "`cargo bh --help` lacks {command}"
        );
    }
    for command in [
        "check",
        "build",
        "image",
        "run",
        "test",
        "bench",
        "completions",
    ] {
        let own = bh(&[command, "--help"]);
        assert!(own.status.success(), "{command} --help: {}", stderr(&own));
        assert!(
            stdout(&own).contains(&format!("Usage: cargo bh {command}")),
            "{command}: {}",
            stdout(&own)
        );
        let via_help = bh(&["help", command]);
        assert_eq!(
            stdout(&via_help),
            stdout(&own),
            "`help {command}` and `{command} --help` differ"
        );
    }
}

#[test]
fn version_and_usage_errors() {
    let version = bh(&["--version"]);
    assert_eq!(
        stdout(&version),
        format!("cargo bh {}\n", env!("CARGO_PKG_VERSION"))
    );
    let unknown = bh(&["check", "qemu-virt-arm64", "--colour"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unexpected argument '--colour'"),
        "{}",
        stderr(&unknown)
    );
    let board = bh(&["check", "no-such-board"]);
    assert!(
        stderr(&board).contains("[possible values: "),
        "{}",
        stderr(&board)
    );
    let none = bh(&[]);
    assert!(!none.status.success() && stderr(&none).contains("Usage: cargo bh"));
}

#[test]
fn a_typo_names_file_line_and_the_nearest_property() {
    let dir = scratch("typo");
    let file = config(
        &dir,
        &[
            ("cpus = <3>;", "cpu = <3>;"),
            ("restart = \"restart\";", "restart = \"restrat\";"),
        ],
    );
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        &format!("--config={}", file.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "{f}:{}: /partitions/alpha: restart: expected \"halt\" or \"restart\", got \"restrat\" (did you mean \"restart\"?)\n\
         {f}:{}: /partitions/gamma: cpu: unknown property (did you mean \"cpus\"?)\n",
        line_of(&file, "restrat"),
        line_of(&file, "cpu = <3>"),
        f = file.display()
    );
    assert_eq!(stderr(&out), expected);
    assert_eq!(stdout(&out), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_independent_validation_error_in_one_run() {
    let dir = scratch("many");
    let file = config(
        &dir,
        &[
            ("cpus = <2>;", "cpus = <1>;"),
            ("cpus = <3>;", "cpus = <7>;"),
        ],
    );
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stderr(&out).lines().map(String::from).collect();
    assert_eq!(
        lines,
        [
            format!("{}:{}: /partitions/beta: cpus: cpu 1 is already given to partition \"alpha\"", file.display(), line_of(&file, "cpus = <1>")),
            format!("{}:{}: /partitions/gamma: cpus: cpu 7 is not in the platform (its CPUs: 0, 1, 2, 3)", file.display(), line_of(&file, "cpus = <7>")),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_map_as_json_follows_the_documented_schema() {
    let dir = scratch("json");
    let file = config(&dir, &[]);
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        "--config",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let map: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(map["schema"], "bulkhead-map/1");
    assert_eq!(map["interrupts"], "gic");
    assert_eq!(map["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(map["cpus"][2]["owner"], "beta");
    assert_eq!(map["images"][0]["size"], 4096);
    assert_eq!(map["images"][0]["loads"].as_array().unwrap().len(), 3);
    let uart = map["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "/pl011@9000000")
        .unwrap();
    assert_eq!(uart["owner"], "hypervisor");
    assert_eq!(uart["interrupts"][0]["name"], "SPI 1 (INTID 33)");
    // The RAM table covers the platform's RAM without a gap, in address order.
    let ram = map["ram"].as_array().unwrap();
    for pair in ram.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"]);
    }
    // Every field name in the output is documented in doc/map.md, and the other way round.
    let doc = std::fs::read_to_string(root().join("doc/map.md")).unwrap();
    let mut seen = Vec::new();
    keys(&map, &mut seen);
    for key in &seen {
        assert!(
            doc.contains(&format!("`{key}`")),
            "doc/map.md does not document `{key}`"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every object key in `value`, recursively.
fn keys(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if !out.contains(k) {
                    out.push(k.clone());
                }
                keys(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn the_svg_shows_every_partition() {
    let dir = scratch("svg");
    let file = config(&dir, &[]);
    let svg = dir.join("map.svg");
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        "--config",
        file.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg ") && picture.trim_end().ends_with("</svg>"));
    for name in [
        "alpha (partition 0)",
        "beta (partition 1)",
        "gamma (partition 2)",
        "CPU 3",
        "Host RAM",
    ] {
        assert!(picture.contains(name), "the picture lacks {name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // A pipe whose reader is gone before the CLI writes: the write end of a child's
    // stdin, once that child (which never reads) has exited.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let write_end = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["completions", "bash"])
        .current_dir(root())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(stderr(&out), "", "a closed pipe must not print anything");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef bh"),
        ("fish", "complete -c bh"),
    ] {
        let out = bh(&["completions", shell]);
        assert!(out.status.success());
        assert!(stdout(&out).contains(marker), "{shell}: no `{marker}`");
    }
}

#[test]
fn the_text_map_shows_the_whole_machine() {
    let dir = scratch("text");
    let file = config(&dir, &[("cpus = <3>;", "cpus = <0x3>;")]);
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let map = stdout(&out);
    for expected in [
        "host RAM, by address\n  HPA:0x40000000..HPA:0x44000000   64 MiB  hypervisor\n  HPA:0x44000000..HPA:0x50000000  192 MiB  free\n",
        "  HPA:0x50000000..HPA:0x51000000   16 MiB  alpha  memory@50000000 (seen at GPA:0x50000000)\n",
        "  CPU 0x3  gamma vCPU 0\n",
        "devices nobody owns\n",
        "/pl031@9010000        MMIO HPA:0x9010000..HPA:0x9011000  SPI 2 (INTID 34)\n",
        "/pl011@9000000             console  MMIO HPA:0x9000000..HPA:0x9001000  SPI 1 (INTID 33)\n",
        "             alpha kernel at GPA:0x50000000 (HPA:0x50000000)\n",
        "partition 2: gamma\n  vCPU→CPU   0→0x3\n",
    ] {
        assert!(map.contains(expected), "missing {expected:?} in\n{map}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_in_an_included_file_name_that_file() {
    let dir = scratch("include");
    let file = config(&dir, &[("/ {", "/include/ \"extra.dtsi\"\n/ {")]);
    std::fs::write(
        dir.join("extra.dtsi"),
        "/ {\n\tpartitions {\n\t\tbeta {\n\t\t\tbootarg = \"x\";\n\t\t};\n\t};\n};\n",
    )
    .unwrap();
    let out = bh(&[
        "check",
        "qemu-virt-arm64",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        stderr(&out),
        format!(
            "{}:4: /partitions/beta: bootarg: unknown property (did you mean \"bootargs\"?)\n",
            dir.join("extra.dtsi").display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

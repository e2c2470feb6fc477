//! Every independent error in one run (`parse_all`, `validate_all`), and the hints that
//! name the nearest known word for a typo.

use super::{board, config, dtc, part, partitions, target};
use crate::config::{parse, parse_all, validate, validate_all};

const A: u64 = 0x5000_0000;
const B: u64 = 0x5200_0000;
const C: u64 = 0x5400_0000;

/// Every parse error of `source`, as messages.
fn parse_errors(source: &str) -> Vec<String> {
    match parse_all(&dtc(source)) {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Every validation error of `source` (which must parse), as messages.
fn validate_errors(source: &str) -> Vec<String> {
    let config = parse(&dtc(source)).expect("the config parses");
    match validate_all(&config, &board(), &target()) {
        Ok(_) => panic!("config was accepted:\n{source}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_typo_gets_the_nearest_property() {
    let source =
        config(&partitions(&[part("alpha", "0", A, "")])).replace("cpus = <0>;", "cpu = <1>;");
    assert_eq!(
        parse_errors(&source),
        [r#"/partitions/alpha: cpu: unknown property (did you mean "cpus"?)"#]
    );
}

#[test]
fn typos_in_values_and_nodes_get_hints_too() {
    let restart = config(&partitions(&[part(
        "alpha",
        "0",
        A,
        r#"restart = "restrat";"#,
    )]));
    assert_eq!(
        parse_errors(&restart),
        [
            r#"/partitions/alpha: restart: expected "halt" or "restart", got "restrat" (did you mean "restart"?)"#
        ]
    );
    let console = config(&partitions(&[part(
        "alpha",
        "0",
        A,
        r#"console = "virtal";"#,
    )]));
    assert_eq!(
        parse_errors(&console),
        [
            r#"/partitions/alpha: console: expected "virtual", "none" or a device path, got "virtal" (did you mean "virtual"?)"#
        ]
    );
    let region = config(&partitions(&[part(
        "alpha",
        "0",
        A,
        "memroy@60000000 { };",
    )]));
    assert_eq!(
        parse_errors(&region),
        [
            r#"/partitions/alpha/memroy@60000000: unknown node (expected memory@<address>; did you mean "memory@60000000"?)"#
        ]
    );
    let far = config(&partitions(&[part("alpha", "0", A, "colour = <1>;")]));
    assert_eq!(
        parse_errors(&far),
        ["/partitions/alpha: colour: unknown property"],
        "no hint when nothing is near"
    );
}

#[test]
fn parse_reports_each_broken_node_once() {
    let source = config(&partitions(&[
        part("alpha", "0", A, "cpu = <1>;"),
        part("beta", "1", B, ""),
        part("gamma", "2", C, r#"restart = "never";"#),
    ]))
    .replace(
        r#"console = "/pl011@9000000";"#,
        r#"consol = "/pl011@9000000";"#,
    );
    assert_eq!(
        parse_errors(&source),
        [
            r#"/hypervisor: consol: unknown property (did you mean "console"?)"#,
            r#"/partitions/alpha: cpu: unknown property (did you mean "cpus"?)"#,
            r#"/partitions/gamma: restart: expected "halt" or "restart", got "never""#,
        ]
    );
    // `parse` stops at the first of them.
    assert_eq!(
        parse(&dtc(&source)).unwrap_err().to_string(),
        parse_errors(&source)[0]
    );
}

#[test]
fn validation_goes_on_after_a_broken_partition() {
    let source = config(&partitions(&[
        part("alpha", "0 7", A, ""),
        part("beta", "1", B, r#"devices = "/pl031@9010001";"#),
        part("gamma", "1", C, ""),
    ]));
    let errors = validate_errors(&source);
    assert_eq!(
        errors,
        [
            "/partitions/alpha: cpus: cpu 7 is not in the platform (its CPUs: 0, 1, 2, 3)",
            r#"/partitions/beta: devices: "/pl031@9010001" is not a platform device (did you mean "/pl031@9010000"?)"#,
            r#"/partitions/gamma: cpus: cpu 1 is already given to partition "beta""#,
        ]
    );
    let config = parse(&dtc(&source)).unwrap();
    assert_eq!(
        validate(&config, &board(), &target())
            .unwrap_err()
            .to_string(),
        errors[0]
    );
}

#[test]
fn a_refused_partition_is_not_blamed_twice() {
    // alpha's region is refused (it overlaps the hypervisor), so it claims nothing and
    // beta, which reuses alpha's CPU-free resources, is fine; the channel is checked on.
    let source = config(&partitions(&[
        part("alpha", "0", 0x4100_0000, ""),
        part("beta", "1", B, ""),
    ]));
    assert_eq!(
        validate_errors(&source),
        ["/partitions/alpha/memory@41000000: reg: HPA:0x41000000..HPA:0x42000000 overlaps the hypervisor's memory (HPA:0x40000000..HPA:0x44000000)"]
    );
}

//! Property tests: random guest traffic to the virtual console never panics, never
//! forwards an over-long line or a control byte, and stays with its own partition.

use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::console::LINE_MAX;
use super::{ConsoleSink, LineBuffer, MmioDevice, VirtPl011};

/// Cases per property, each up to [`MAX_OPS`] guest accesses.
const CASES: u32 = 256;
const MAX_OPS: usize = 64;

/// PL011 registers a driver programs and reads back (DDI 0183 3.2): IBRD, FBRD, LCR_H,
/// CR, IFLS, IMSC, DMACR.
const STORED: [u64; 7] = [0x024, 0x028, 0x02c, 0x030, 0x034, 0x038, 0x048];
const DR: u64 = 0x000;
const FR: u64 = 0x018;
/// `UARTFR` of a UART that can always send and never receives: TXFE | RXFE.
const FR_READY: u64 = 0x90;
/// `UARTPeriphID0..3`, `UARTPCellID0..3` at 0xFE0..0xFFC: a PL011 r1p5.
const ID: [u64; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// Every line the console received, with the partition name it came under.
#[derive(Default)]
struct Sink(Mutex<Vec<(String, Vec<u8>)>>);

impl ConsoleSink for Sink {
    fn line(&self, name: &str, line: &[u8]) {
        self.0.lock().unwrap().push((String::from(name), line.to_vec()));
    }
}

impl Sink {
    fn lines(&self) -> Vec<(String, Vec<u8>)> {
        self.0.lock().unwrap().clone()
    }
}

/// The line discipline [`LineBuffer`] documents: drop control bytes but tab, end a line
/// at `\n` or when it reaches [`LINE_MAX`] bytes. Returns the finished lines and the
/// unfinished rest.
fn lines_of(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let (mut lines, mut line) = (Vec::new(), Vec::new());
    for &b in bytes {
        if b == b'\n' {
            lines.push(core::mem::take(&mut line));
        } else if b == b'\t' || (b >= 0x20 && b != 0x7f) {
            line.push(b);
            if line.len() == LINE_MAX {
                lines.push(core::mem::take(&mut line));
            }
        }
    }
    (lines, line)
}

/// Console bytes: text, newlines, the log-frame delimiters 0x00 and 0x01, anything.
fn byte() -> impl Strategy<Value = u8> {
    let control = prop::sample::select(&[0u8, 1, b'\t', 0x1b, 0x7f][..]);
    prop_oneof![6 => b' '..=b'~', 2 => Just(b'\n'), 1 => control, 2 => any::<u8>()]
}

/// A chunk as one write: mostly short, sometimes a short pattern repeated past a line.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    let long = (vec(byte(), 1..8), LINE_MAX - 8..LINE_MAX * 2 + 8)
        .prop_map(|(pattern, len)| pattern.iter().cycle().take(len).copied().collect());
    prop_oneof![4 => vec(byte(), 0..16), 1 => long]
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(CASES)
    })]

    /// Whatever bytes come in, the sink gets exactly the documented lines: none longer
    /// than [`LINE_MAX`], none with a control byte (which could fake a log frame).
    #[test]
    fn line_buffer_emits_bounded_clean_lines(chunks in vec(chunk(), 0..MAX_OPS)) {
        let (sink, buffer) = (Sink::default(), LineBuffer::new());
        chunks.iter().for_each(|c| buffer.write("alpha", c, &sink));
        let got = sink.lines();
        for (name, line) in &got {
            prop_assert_eq!(name.as_str(), "alpha");
            prop_assert!(line.len() <= LINE_MAX, "a line of {} bytes", line.len());
            prop_assert!(line.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)), "control byte in {:x?}", line);
        }
        let (want, _) = lines_of(&chunks.concat());
        prop_assert_eq!(got.into_iter().map(|(_, line)| line).collect::<Vec<_>>(), want);
    }
}

/// A guest access to one of two UARTs: partition `alpha`'s (index 0) or `beta`'s.
#[derive(Clone, Copy, Debug)]
struct Access {
    uart: usize,
    vcpu: usize,
    offset: u64,
    size: u8,
    write: Option<u64>,
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => Just(DR),
        1 => Just(FR),
        3 => prop::sample::select(&STORED[..]),
        1 => 0xfe0u64..0x1000,
        2 => 0u64..0x1000,
        1 => any::<u64>(),
    ]
}

fn access() -> impl Strategy<Value = Access> {
    let size = prop_oneof![4 => prop::sample::select(&[1u8, 2, 4, 8][..]), 1 => any::<u8>()];
    let value = prop_oneof![3 => byte().prop_map(u64::from), 1 => any::<u64>()];
    let vcpu = prop_oneof![3 => 0usize..4, 1 => any::<usize>()];
    (prop::bool::weighted(0.8), vcpu, offset(), size, prop::option::weighted(0.7, value))
        .prop_map(|(alpha, vcpu, offset, size, write)| Access { uart: usize::from(!alpha), vcpu, offset, size, write })
}

/// What a load at `offset` must return from a UART whose stored registers hold `regs`.
fn expected_read(regs: &[u32; 7], offset: u64) -> u64 {
    match offset {
        FR => FR_READY,
        0xfe0..=0xffc if offset.is_multiple_of(4) => ID[(offset as usize - 0xfe0) / 4],
        _ => STORED.iter().position(|&r| r == offset).map_or(0, |i| u64::from(regs[i])),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(CASES)
    })]

    /// Two partitions' UARTs on the hypervisor's one console: every naturally aligned
    /// access of up to 32 bits succeeds and any other is refused without effect,
    /// registers read back what their own guest wrote, each line written lands under
    /// the writing UART's partition name, and lines are exactly those of its own bytes.
    #[test]
    fn uarts_keep_their_own_lines_and_registers(accesses in vec(access(), 0..=MAX_OPS)) {
        const NAMES: [&str; 2] = ["alpha", "beta"];
        let sink = Arc::new(Sink::default());
        let uarts = NAMES.map(|name| VirtPl011::new(name, sink.clone()));
        let mut regs = [[0u32; 7]; 2];
        let mut sent: [Vec<u8>; 2] = Default::default();
        for a in &accesses {
            let (uart, before) = (&uarts[a.uart], sink.lines().len());
            if !matches!(a.size, 1 | 2 | 4) || !a.offset.is_multiple_of(u64::from(a.size)) {
                let refused = match a.write {
                    Some(value) => uart.write(a.vcpu, a.offset, a.size, value).is_err(),
                    None => uart.read(a.vcpu, a.offset, a.size).is_err(),
                };
                prop_assert!(refused, "{:x?} was accepted", a);
                prop_assert_eq!(sink.lines().len(), before);
                continue;
            }
            match a.write {
                Some(value) => {
                    prop_assert_eq!(uart.write(a.vcpu, a.offset, a.size, value), Ok(()));
                    if a.offset == DR {
                        sent[a.uart].push(value as u8);
                    } else if let Some(i) = STORED.iter().position(|&r| r == a.offset) {
                        regs[a.uart][i] = value as u32;
                    }
                }
                None => {
                    let want = expected_read(&regs[a.uart], a.offset);
                    prop_assert_eq!(uart.read(a.vcpu, a.offset, a.size), Ok(want), "{:x?}", a);
                }
            }
            for (name, line) in &sink.lines()[before..] {
                prop_assert_eq!(name.as_str(), NAMES[a.uart], "{:x?} emitted {:x?}", a, line);
            }
        }
        for (u, name) in NAMES.iter().enumerate() {
            let got: Vec<Vec<u8>> = sink.lines().into_iter().filter(|(n, _)| n == name).map(|(_, l)| l).collect();
            prop_assert_eq!(got, lines_of(&sent[u]).0, "{}'s lines", name);
            for (i, &r) in STORED.iter().enumerate() {
                prop_assert_eq!(uarts[u].read(0, r, 4), Ok(u64::from(regs[u][i])), "{}'s register {:#x}", name, r);
            }
        }
    }
}

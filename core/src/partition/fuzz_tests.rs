//! Property tests: random exits of one partition (hypercalls with any function id and
//! arguments, power requests naming any vCPU, console MMIO) never panic and never change
//! another partition.

use std::cell::RefCell;
use std::string::String;
use std::sync::{Arc, Mutex as StdMutex};
use std::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::addr::Range;
use crate::hypercall as hc;
use crate::vcpu::{ArchVcpu, MmioAccess, PowerRequest, VmExit};
use crate::vdev::{ConsoleSink, LineBuffer, VirtPl011};

/// Cases per property, each up to [`MAX_OPS`] exits.
const CASES: u32 = 256;
const MAX_OPS: usize = 64;
/// Where each partition sees its virtual UART.
const UART: u64 = 0x0900_0000;

/// Every console line with the partition name it came under.
#[derive(Default)]
struct Sink(StdMutex<Vec<(String, Vec<u8>)>>);

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

/// A vCPU that takes the one exit it is given and records the results core sets.
#[derive(Default)]
struct Vcpu {
    exit: Option<VmExit>,
    results: Vec<[u64; 3]>,
}

impl ArchVcpu for Vcpu {
    fn run(&mut self) -> VmExit {
        self.exit.take().unwrap_or(VmExit::Idle)
    }
    fn reset(&mut self, _entry: GuestPhysAddr, _arg: u64) {}
    fn set_results(&mut self, values: &[u64]) {
        self.results.push([values[0], values[1], values[2]]);
    }
    fn complete_load(&mut self, _value: u64) {}
    fn skip_instruction(&mut self) {}
    fn pc(&self) -> u64 {
        0
    }
    fn syndrome(&self) -> u64 {
        0
    }
}

/// A machine that records which partition and vCPU every kick, reload and report names.
#[derive(Default)]
struct Machine {
    kicks: RefCell<Vec<(usize, usize)>>,
    reloads: RefCell<Vec<usize>>,
    events: RefCell<Vec<(usize, Event)>>,
}

impl Host for Machine {
    fn wait(&self) {}
    fn kick(&self, part: &PartitionCtl, vcpu: usize) {
        self.kicks.borrow_mut().push((part.id, vcpu));
    }
    fn reload(&self, part: &PartitionCtl) -> Result<(GuestPhysAddr, u64), &'static str> {
        self.reloads.borrow_mut().push(part.id);
        Ok((GuestPhysAddr::new(0x5000_0000), 0))
    }
    fn report(&self, part: &PartitionCtl, event: Event) {
        self.events.borrow_mut().push((part.id, event));
    }
}

/// A booted partition with a virtual UART at [`UART`] on the shared `sink`.
fn partition(id: usize, name: &str, vcpus: usize, restart: RestartPolicy, sink: &Arc<Sink>) -> PartitionCtl {
    let mut p = PartitionCtl::new(id, name, vcpus, restart);
    let uart = Arc::new(VirtPl011::new(name, sink.clone()));
    p.devices.add(Range::new(GuestPhysAddr::new(UART), 0x1000).unwrap(), Box::new(uart.clone())).unwrap();
    p.console = Some(uart);
    p.boot(GuestPhysAddr::new(0x5000_0000), 0).unwrap();
    p
}

/// Everything about a partition another one could disturb.
fn observe(p: &PartitionCtl) -> (State, u32, Vec<Option<VcpuPower>>) {
    (p.state(), p.restarts(), (0..p.vcpu_count()).map(|i| p.power(i)).collect())
}

/// Function ids: mostly Bulkhead's (sometimes with upper bits set), else anything.
fn function() -> impl Strategy<Value = u64> {
    let ours = || (hc::BASE..hc::BASE + 8).prop_map(u64::from);
    prop_oneof![
        6 => ours(),
        1 => (ours(), 1u64..1 << 32).prop_map(|(f, high)| high << 32 | f),
        1 => any::<u32>().prop_map(u64::from),
        1 => any::<u64>(),
    ]
}

/// Hypercall arguments: a length around [`hc::CONSOLE_WRITE_MAX`] or anything, then
/// text packed as `CONSOLE_WRITE` wants it or anything.
fn args() -> impl Strategy<Value = [u64; 6]> {
    let len = prop_oneof![4 => 0u64..=hc::CONSOLE_WRITE_MAX as u64 + 8, 1 => any::<u64>()];
    let byte = prop_oneof![6 => b' '..=b'~', 2 => Just(b'\n'), 1 => any::<u8>()];
    let text = vec(byte, 0..=hc::CONSOLE_WRITE_MAX).prop_map(|text| {
        let mut regs = [0u64; 5];
        hc::pack_bytes(&text, &mut regs);
        regs
    });
    let data = prop_oneof![3 => text, 1 => any::<[u64; 5]>()];
    (len, data).prop_map(|(len, d)| [len, d[0], d[1], d[2], d[3], d[4]])
}

/// The bytes a `CONSOLE_WRITE` of `args` carries: `args[0]` of them, little-endian
/// from `args[1]` on; `None` beyond the limit.
fn console_bytes(args: &[u64; 6]) -> Option<Vec<u8>> {
    let len = usize::try_from(args[0]).ok().filter(|&n| n <= hc::CONSOLE_WRITE_MAX)?;
    Some((0..len).map(|i| (args[1 + i / 8] >> (8 * (i % 8))) as u8).collect())
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(CASES)
    })]

    /// Any hypercall from partition A: only HALT_SELF and RESTART_SELF stop it, nothing
    /// starts or parks a vCPU, `CONSOLE_WRITE` takes at most its 40 bytes (refusing
    /// longer writes whole) into A's own console, and B is untouched.
    #[test]
    fn hypercalls_stay_bounded_and_in_the_partition(
        calls in vec((0usize..70, function(), args()), 0..=MAX_OPS),
        vcpus in 1usize..=8,
    ) {
        let sink = Arc::new(Sink::default());
        let a = partition(0, "alpha", vcpus, RestartPolicy::Halt, &sink);
        let b = partition(1, "beta", 2, RestartPolicy::Halt, &sink);
        let (a_before, b_before) = (observe(&a), observe(&b));
        // The lines A's accepted bytes make, through a console of its own.
        let (want, line) = (Sink::default(), LineBuffer::new());
        for &(vcpu, function, args) in &calls {
            let action = dispatch(&a, vcpu, &VmExit::Hypercall { function, args });
            match u32::try_from(function) {
                Ok(hc::CONSOLE_WRITE) => {
                    let bytes = console_bytes(&args);
                    let code = if bytes.is_some() { hc::SUCCESS } else { hc::INVALID_PARAMETERS };
                    prop_assert_eq!(action, Action::Reply([code as u64, 0, 0]), "len {}", args[0]);
                    line.write("alpha", &bytes.unwrap_or_default(), &want);
                }
                Ok(hc::HALT_SELF) => prop_assert_eq!(action, Action::Stop(Stop::Halt)),
                Ok(hc::RESTART_SELF) => prop_assert_eq!(action, Action::Stop(Stop::Restart)),
                _ => prop_assert!(matches!(action, Action::Reply(_)), "{:#x} gave {:?}", function, action),
            }
        }
        prop_assert_eq!(sink.lines(), want.lines());
        prop_assert_eq!(observe(&a), a_before, "dispatch alone changes no partition state");
        prop_assert_eq!(observe(&b), b_before);
    }
}

/// Exits of every kind, weighted towards `CPU_ON` with any target.
fn exit() -> impl Strategy<Value = VmExit> {
    let target = prop_oneof![4 => 0u64..12, 1 => any::<u64>()];
    let cpu_on = (target.clone(), any::<u64>(), any::<u64>())
        .prop_map(|(target, entry, context)| PowerRequest::CpuOn { target, entry: GuestPhysAddr::new(entry), context });
    let power = prop_oneof![
        6 => cpu_on,
        2 => target.prop_map(|target| PowerRequest::AffinityInfo { target }),
        2 => Just(PowerRequest::CpuOff),
        1 => prop::sample::select(&[PowerRequest::SystemOff, PowerRequest::SystemReset][..]),
    ];
    let gpa = prop_oneof![8 => UART..UART + 0x1000, 1 => any::<u64>()].prop_map(GuestPhysAddr::new);
    let size = prop::sample::select(&[1u8, 2, 4, 8][..]);
    let value = prop_oneof![b' '..=b'~', Just(b'\n')].prop_map(u64::from);
    let mmio = (gpa, size, prop::option::of(value)).prop_map(|(gpa, size, write)| MmioAccess { gpa, size, write });
    prop_oneof![
        8 => power.prop_map(VmExit::Power),
        3 => (function(), args()).prop_map(|(function, args)| VmExit::Hypercall { function, args }),
        3 => mmio.prop_map(VmExit::Mmio),
        1 => prop::sample::select(&[VmExit::Idle, VmExit::Handled, VmExit::Refused("fuzz")][..]),
    ]
}

/// Whether `exit` may stop (and so reset every vCPU of) the partition.
fn may_stop(exit: &VmExit) -> bool {
    match exit {
        VmExit::Power(req) => matches!(req, PowerRequest::SystemOff | PowerRequest::SystemReset),
        VmExit::Hypercall { function, .. } => [hc::HALT_SELF, hc::RESTART_SELF].map(u64::from).contains(function),
        VmExit::Mmio(access) => {
            let aligned = matches!(access.size, 1 | 2 | 4) && access.gpa.as_u64().is_multiple_of(u64::from(access.size));
            !(UART..UART + 0x1000).contains(&access.gpa.as_u64()) || !aligned
        }
        // No ports are emulated here: every port access stops the partition.
        VmExit::Refused(_) | VmExit::Stage2Fault { .. } | VmExit::Pio(_) => true,
        VmExit::Idle | VmExit::Handled => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(CASES)
    })]

    /// Partition A's vCPUs (and vCPU indices it does not have) take random exits through
    /// the vCPU loop. A step changes at most the stepping vCPU and the one a `CPU_ON`
    /// names, which must be A's; only A's CPUs are kicked, only A is reloaded, reported
    /// on or printed for; B keeps its state.
    #[test]
    fn exits_change_only_the_callers_vcpus(
        steps in vec((prop_oneof![4 => 0usize..10, 1 => 0usize..70], exit()), 0..=MAX_OPS),
        vcpus in 1usize..=8,
        restart in any::<bool>(),
    ) {
        let sink = Arc::new(Sink::default());
        let policy = if restart { RestartPolicy::Restart } else { RestartPolicy::Halt };
        let a = partition(0, "alpha", vcpus, policy, &sink);
        let b = partition(1, "beta", 3, RestartPolicy::Restart, &sink);
        let machine = Machine::default();
        step(&b, 0, &mut Vcpu::default(), &machine); // B's boot vCPU is running
        machine.events.borrow_mut().clear();
        let b_before = observe(&b);
        let mut cpus: Vec<Vcpu> = (0..70).map(|_| Vcpu::default()).collect();
        for &(index, exit) in &steps {
            let before = observe(&a).2;
            cpus[index].exit = Some(exit);
            step(&a, index, &mut cpus[index], &machine);
            cpus[index].exit = None; // not taken if the vCPU could not run
            let after = observe(&a).2;
            prop_assert_eq!(after.len(), vcpus);
            let named = match exit {
                VmExit::Power(PowerRequest::CpuOn { target, .. }) => usize::try_from(target).ok(),
                _ => None,
            };
            if !may_stop(&exit) {
                for (i, (was, is)) in before.iter().zip(&after).enumerate() {
                    let allowed = i == index || Some(i) == named;
                    prop_assert!(was == is || allowed, "{:?} on vCPU {} changed vCPU {}", exit, index, i);
                }
            }
            prop_assert!(machine.kicks.borrow().iter().all(|&(p, v)| p == 0 && v < vcpus), "{:?}", machine.kicks);
            prop_assert!(machine.reloads.borrow().iter().all(|&p| p == 0));
            prop_assert_eq!(observe(&b), b_before.clone());
        }
        let events = machine.events.borrow();
        let own = |(p, e): &(usize, Event)| *p == 0 && !matches!(e, Event::VcpuStarted(i) if *i >= vcpus);
        prop_assert!(events.iter().all(own), "{:?}", events);
        prop_assert!(sink.lines().iter().all(|(name, _)| name == "alpha"));
    }
}

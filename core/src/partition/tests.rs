//! Exit dispatch and the vCPU loop against a mock architecture.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::vec::Vec;

use super::*;
use crate::addr::{GuestPhysAddr, Range};
use crate::config::BadAccessPolicy;
use crate::hypercall as hc;
use crate::vcpu::{ArchVcpu, MmioAccess, PowerRequest, VmExit};
use crate::vdev::{ConsoleSink, VirtPl011};

/// A vCPU that replays scripted exits and records what core did to it.
#[derive(Default)]
struct MockVcpu {
    exits: VecDeque<VmExit>,
    resets: Vec<(u64, u64)>,
    results: Vec<[u64; 3]>,
    loads: Vec<u64>,
    skips: usize,
    /// Whether `inject_abort` succeeds, and how often it was called.
    can_abort: bool,
    aborts: usize,
}

impl ArchVcpu for MockVcpu {
    fn run(&mut self) -> VmExit {
        self.exits.pop_front().unwrap_or(VmExit::Idle)
    }
    fn reset(&mut self, entry: GuestPhysAddr, arg: u64) {
        self.resets.push((entry.as_u64(), arg));
    }
    fn set_results(&mut self, values: &[u64]) {
        self.results.push([values[0], values[1], values[2]]);
    }
    fn complete_load(&mut self, value: u64) {
        self.loads.push(value);
    }
    fn skip_instruction(&mut self) {
        self.skips += 1;
    }
    fn pc(&self) -> u64 {
        0x5000_0040
    }
    fn syndrome(&self) -> u64 {
        0x9200_0046
    }
    fn inject_abort(&mut self) -> bool {
        self.aborts += 1;
        self.can_abort
    }
}

#[derive(Default)]
struct MockHost {
    events: RefCell<Vec<Event>>,
    reloads: RefCell<usize>,
    kicks: RefCell<usize>,
}

impl Host for MockHost {
    fn wait(&self) {}
    fn kick(&self, _part: &PartitionCtl, _vcpu: usize) {
        *self.kicks.borrow_mut() += 1;
    }
    fn reload(&self, _part: &PartitionCtl) -> Result<(GuestPhysAddr, u64), &'static str> {
        *self.reloads.borrow_mut() += 1;
        Ok((GuestPhysAddr::new(0x5000_0000), 0x5100_0000))
    }
    fn report(&self, _part: &PartitionCtl, event: Event) {
        self.events.borrow_mut().push(event);
    }
}

#[derive(Default)]
struct Lines(std::sync::Mutex<Vec<std::string::String>>);
impl ConsoleSink for Lines {
    fn line(&self, name: &str, line: &[u8]) {
        let text = std::string::String::from_utf8_lossy(line);
        self.0.lock().unwrap().push(std::format!("[{name}] {text}"));
    }
}

fn booted(vcpus: usize, policy: RestartPolicy) -> PartitionCtl {
    let p = PartitionCtl::new(1, "alpha", vcpus, policy);
    p.boot(GuestPhysAddr::new(0x5000_0000), 0x5100_0000).unwrap();
    p
}

fn run_script(p: &PartitionCtl, vcpu: &mut MockVcpu, host: &MockHost) {
    while !vcpu.exits.is_empty() {
        step(p, 0, vcpu, host);
    }
}

fn hvc(function: u32, args: [u64; 6]) -> VmExit {
    VmExit::Hypercall { function: u64::from(function), args }
}

#[test]
fn boot_vcpu_starts_at_the_entry_with_its_argument() {
    let p = booted(2, RestartPolicy::Halt);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    v.exits.push_back(VmExit::Idle);
    run_script(&p, &mut v, &host);
    assert_eq!(v.resets, [(0x5000_0000, 0x5100_0000)]);
    assert_eq!(p.power(0), Some(VcpuPower::On));
    assert_eq!(p.power(1), Some(VcpuPower::Off));
    assert_eq!(*host.events.borrow(), [Event::VcpuStarted(0)]);
}

#[test]
fn partition_info_returns_id_and_packed_name() {
    let p = booted(1, RestartPolicy::Halt);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    v.exits.push_back(hvc(hc::PARTITION_INFO, [0; 6]));
    run_script(&p, &mut v, &host);
    let mut name = [0u8; 16];
    hc::unpack_bytes(&v.results[0][1..], 16, &mut name);
    assert_eq!(v.results[0][0], 1);
    assert_eq!(&name[..5], b"alpha");
}

#[test]
fn console_hypercall_prints_prefixed_lines_and_refuses_oversize() {
    let sink = Arc::new(Lines::default());
    let mut p = PartitionCtl::new(0, "beta", 1, RestartPolicy::Halt);
    p.console = Some(Arc::new(VirtPl011::new("beta", sink.clone())));
    p.boot(GuestPhysAddr::new(0x5200_0000), 0).unwrap();
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    let mut regs = [0u64; 5];
    hc::pack_bytes(b"hi there\n", &mut regs);
    v.exits.push_back(hvc(hc::CONSOLE_WRITE, [9, regs[0], regs[1], 0, 0, 0]));
    v.exits.push_back(hvc(hc::CONSOLE_WRITE, [1000, 0, 0, 0, 0, 0]));
    v.exits.push_back(hvc(0x8600_1234, [0; 6]));
    run_script(&p, &mut v, &host);
    assert_eq!(*sink.0.lock().unwrap(), ["[beta] hi there"]);
    let codes: Vec<i64> = v.results.iter().map(|r| r[0] as i64).collect();
    assert_eq!(codes, [0, -2, -1]);
}

#[test]
fn cpu_on_starts_only_own_vcpus() {
    let p = booted(2, RestartPolicy::Halt);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    let on = |target| VmExit::Power(PowerRequest::CpuOn { target, entry: GuestPhysAddr::new(0x5000_1000), context: 7 });
    v.exits.extend([on(1), on(1), on(2), on(0x100), on(0)]);
    v.exits.push_back(VmExit::Power(PowerRequest::AffinityInfo { target: 1 }));
    v.exits.push_back(VmExit::Power(PowerRequest::AffinityInfo { target: 5 }));
    run_script(&p, &mut v, &host);
    let codes: Vec<i64> = v.results.iter().map(|r| r[0] as i64).collect();
    // own vCPU 1 starts; again → ALREADY_ON (committed to start); 2 and 0x100 are not
    // ours; 0 is running
    assert_eq!(codes, [0, -4, -2, -2, -4, 2, -2]);
    // vCPU 1's CPU picks the request up
    let mut v1 = MockVcpu::default();
    step(&p, 1, &mut v1, &host);
    assert_eq!(v1.resets, [(0x5000_1000, 7)]);
    assert_eq!(p.power(1), Some(VcpuPower::On));
}

#[test]
fn system_reset_reloads_and_counts_restarts() {
    let p = booted(2, RestartPolicy::Halt);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    for _ in 0..5 {
        v.exits.push_back(VmExit::Power(PowerRequest::SystemReset));
        v.exits.push_back(VmExit::Idle);
    }
    run_script(&p, &mut v, &host);
    assert_eq!(p.restarts(), 5);
    assert_eq!(*host.reloads.borrow(), 5);
    assert_eq!(p.state(), State::Running);
    assert_eq!(v.resets.len(), 6, "boot plus five restarts");
    assert!(host.events.borrow().contains(&Event::Restarted(5)));
}

#[test]
fn fault_under_halt_policy_stops_every_vcpu() {
    let p = booted(2, RestartPolicy::Halt);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    let gpa = GuestPhysAddr::new(0x4000_0000);
    v.exits.push_back(VmExit::Power(PowerRequest::CpuOn { target: 1, entry: gpa, context: 0 }));
    v.exits.push_back(VmExit::Stage2Fault { gpa, write: true });
    run_script(&p, &mut v, &host);
    assert_eq!(p.state(), State::Faulted);
    assert_eq!((p.power(0), p.power(1)), (Some(VcpuPower::Off), Some(VcpuPower::Off)));
    let fault = Fault { kind: FaultKind::Stage2 { gpa, write: true }, vcpu: 0, pc: 0x5000_0040, syndrome: 0x9200_0046 };
    assert!(host.events.borrow().contains(&Event::Faulted(fault)));
    assert_eq!(*host.kicks.borrow(), 2, "vCPU 1 woken by CPU_ON, then kicked by the stop");
    // The stopped partition never runs again.
    assert!(!step(&p, 0, &mut v, &host));
}

#[test]
fn fault_under_restart_policy_reports_then_restarts() {
    let p = booted(1, RestartPolicy::Restart);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    v.exits.push_back(VmExit::Refused("EL2 register write"));
    run_script(&p, &mut v, &host);
    let events = host.events.borrow();
    assert!(matches!(events[1], Event::Faulted(Fault { kind: FaultKind::Refused(_), .. })));
    assert_eq!(events[2], Event::Restarted(1));
}

#[test]
fn power_off_halts_and_a_second_stop_is_ignored() {
    let p = booted(1, RestartPolicy::Restart);
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    v.exits.push_back(VmExit::Power(PowerRequest::SystemOff));
    run_script(&p, &mut v, &host);
    assert_eq!(p.state(), State::Halted);
    // A racing fault report from another vCPU changes nothing.
    assert_eq!(dispatch(&p, 0, &VmExit::Refused("x")), Action::Stop(Stop::Fault(FaultKind::Refused("x"))));
    assert_eq!(p.state(), State::Halted);
}

struct Echo;
impl crate::vdev::MmioDevice for Echo {
    fn read(&self, vcpu: usize, offset: u64, size: u8) -> Result<u64, crate::vdev::BadAccess> {
        if size == 8 {
            return Err(crate::vdev::BadAccess("64-bit access"));
        }
        Ok(offset + vcpu as u64)
    }
    fn write(&self, _: usize, _: u64, _: u8, _: u64) -> Result<(), crate::vdev::BadAccess> {
        Ok(())
    }
}

#[test]
fn mmio_reaches_the_device_and_bad_accesses_fault() {
    let mut p = PartitionCtl::new(0, "m", 1, RestartPolicy::Halt);
    let range = Range::new(GuestPhysAddr::new(0x0800_0000), 0x1_0000).unwrap();
    p.devices.add(range, std::boxed::Box::new(Echo)).unwrap();
    p.boot(GuestPhysAddr::new(0x5000_0000), 0).unwrap();
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    let access = |off: u64, size, write| VmExit::Mmio(MmioAccess { gpa: GuestPhysAddr::new(0x0800_0000 + off), size, write });
    v.exits.extend([access(0x10, 4, None), access(0x20, 4, Some(1)), access(0x30, 8, None)]);
    run_script(&p, &mut v, &host);
    assert_eq!(v.loads, [0x10]);
    assert_eq!(v.skips, 2);
    assert_eq!(p.state(), State::Faulted);
}

#[test]
fn mmio_outside_every_device_is_a_stage2_fault() {
    let p = booted(1, RestartPolicy::Halt);
    let gpa = GuestPhysAddr::new(0x0901_0000);
    let exit = VmExit::Mmio(MmioAccess { gpa, size: 4, write: None });
    assert_eq!(dispatch(&p, 0, &exit), Action::Stop(Stop::Fault(FaultKind::Stage2 { gpa, write: false })));
}

#[test]
fn an_undecodable_access_to_an_emulated_device_is_reported_as_such() {
    struct Dev;
    impl crate::vdev::MmioDevice for Dev {
        fn read(&self, _: usize, _: u64, _: u8) -> Result<u64, crate::vdev::BadAccess> {
            Ok(0)
        }
        fn write(&self, _: usize, _: u64, _: u8, _: u64) -> Result<(), crate::vdev::BadAccess> {
            Ok(())
        }
    }
    let mut p = PartitionCtl::new(0, "alpha", 1, RestartPolicy::Halt);
    let window = crate::addr::Range::new(GuestPhysAddr::new(0x800_0000), 0x1_0000).unwrap();
    p.devices.add(window, alloc::boxed::Box::new(Dev)).unwrap();
    let gpa = GuestPhysAddr::new(0x800_0004);
    let device = dispatch(&p, 0, &VmExit::Stage2Fault { gpa, write: false });
    assert_eq!(
        device,
        Action::Stop(Stop::Fault(FaultKind::Device { gpa, reason: "an access to an emulated device it cannot decode" }))
    );
    let outside = GuestPhysAddr::new(0x900_0000);
    let ram = dispatch(&p, 0, &VmExit::Stage2Fault { gpa: outside, write: true });
    assert_eq!(ram, Action::Stop(Stop::Fault(FaultKind::Stage2 { gpa: outside, write: true })));
}

#[test]
fn port_accesses_reach_their_device_or_stop_the_partition() {
    use crate::addr::IoPort;
    use crate::vcpu::PioAccess;
    let sink = std::sync::Arc::new(crate::vdev::console::tests::Lines::default());
    let mut p = PartitionCtl::new(0, "alpha", 1, RestartPolicy::Halt);
    let uart = std::sync::Arc::new(crate::vdev::VirtNs16550::new("alpha", sink.clone()));
    let com1 = crate::addr::Range::new(IoPort::new(0x3f8), 8).unwrap();
    p.ports.add(com1, alloc::boxed::Box::new(uart)).unwrap();
    let out = |port: u64, value: u64| VmExit::Pio(PioAccess { port: IoPort::new(port), size: 1, write: Some(value) });
    assert_eq!(dispatch(&p, 0, &out(0x3f8, u64::from(b'x'))), Action::Stored);
    assert_eq!(dispatch(&p, 0, &out(0x3f8, u64::from(b'\n'))), Action::Stored);
    assert_eq!(*sink.0.lock().unwrap(), ["[alpha] x"]);
    let lsr = VmExit::Pio(PioAccess { port: IoPort::new(0x3fd), size: 1, write: None });
    assert_eq!(dispatch(&p, 0, &lsr), Action::Load(0x60));
    let port = IoPort::new(0x80);
    assert_eq!(dispatch(&p, 0, &out(0x80, 1)), Action::Stop(Stop::Fault(FaultKind::Port { port, write: true })));
}

#[test]
fn racing_cpu_ons_start_the_target_once_and_the_losers_see_already_on() {
    let p = booted(3, RestartPolicy::Halt);
    p.shared.lock().vcpus[1] = VcpuPower::On; // a second racer
    let on = VmExit::Power(PowerRequest::CpuOn { target: 2, entry: GuestPhysAddr::new(0x5000_2000), context: 2 });
    let first = dispatch(&p, 0, &on);
    assert_eq!(first, Action::Started(2, [0, 0, 0]));
    for racer in [1, 0, 1] {
        assert_eq!(dispatch(&p, racer, &on), Action::Reply([-4i64 as u64, 0, 0]), "racer {racer}");
    }
    let info = |p: &PartitionCtl| dispatch(p, 0, &VmExit::Power(PowerRequest::AffinityInfo { target: 2 }));
    assert_eq!(info(&p), Action::Reply([2, 0, 0]), "ON_PENDING until it runs");
    let (mut v2, host) = (MockVcpu::default(), MockHost::default());
    step(&p, 2, &mut v2, &host);
    assert_eq!(v2.resets, [(0x5000_2000, 2)], "started exactly once, with the winner's entry");
    assert_eq!(info(&p), Action::Reply([0, 0, 0]));
    assert_eq!(dispatch(&p, 1, &on), Action::Reply([-4i64 as u64, 0, 0]));
}

fn aborting(policy: BadAccessPolicy) -> PartitionCtl {
    let mut p = PartitionCtl::new(1, "alpha", 1, RestartPolicy::Restart);
    p.bad_access = policy;
    p.boot(GuestPhysAddr::new(0x5000_0000), 0x5100_0000).unwrap();
    p
}

#[test]
fn under_the_abort_policy_a_bad_access_is_injected_and_reported_once_each() {
    let p = aborting(BadAccessPolicy::Abort);
    let (mut v, host) = (MockVcpu { can_abort: true, ..MockVcpu::default() }, MockHost::default());
    let (fetch, read) = (GuestPhysAddr::new(0x5100_0000), GuestPhysAddr::new(0x0901_0000));
    v.exits.push_back(VmExit::Stage2Fault { gpa: fetch, write: false });
    v.exits.push_back(VmExit::Mmio(MmioAccess { gpa: read, size: 4, write: None }));
    v.exits.push_back(hvc(hc::YIELD, [0; 6])); // and it goes on
    run_script(&p, &mut v, &host);
    assert_eq!(v.aborts, 2);
    assert_eq!((v.loads.len(), v.skips), (0, 0), "nothing emulated, nothing skipped");
    assert_eq!(v.results, [[0, 0, 0]], "the hypercall after them ran");
    let fault = |kind| Event::Faulted(Fault { kind, vcpu: 0, pc: 0x5000_0040, syndrome: 0x9200_0046 });
    let want = [
        Event::VcpuStarted(0),
        fault(FaultKind::Stage2 { gpa: fetch, write: false }),
        fault(FaultKind::Stage2 { gpa: read, write: false }),
    ];
    assert_eq!(*host.events.borrow(), want, "one report per bad access, the line a stop prints");
    assert_eq!((p.state(), p.power(0), *host.reloads.borrow()), (State::Running, Some(VcpuPower::On), 0));
}

#[test]
fn the_abort_policy_stops_when_the_architecture_cannot_inject_and_spares_other_faults() {
    let p = aborting(BadAccessPolicy::Abort);
    let gpa = GuestPhysAddr::new(0x5100_0000);
    let write = FaultKind::Stage2 { gpa, write: true };
    assert_eq!(dispatch(&p, 0, &VmExit::Stage2Fault { gpa, write: true }), Action::Abort(write));
    assert_eq!(dispatch(&p, 0, &VmExit::Refused("x")), Action::Stop(Stop::Fault(FaultKind::Refused("x"))));
    let (mut v, host) = (MockVcpu::default(), MockHost::default());
    v.exits.push_back(VmExit::Stage2Fault { gpa, write: true });
    run_script(&p, &mut v, &host);
    assert_eq!(v.aborts, 1);
    let events = host.events.borrow();
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Faulted(_))).count(), 1);
    assert_eq!(events.last(), Some(&Event::Restarted(1)), "stopped, then its restart policy");
    // The default policy never asks the architecture.
    let stop = aborting(BadAccessPolicy::Stop);
    assert_eq!(dispatch(&stop, 0, &VmExit::Stage2Fault { gpa, write: true }), Action::Stop(Stop::Fault(write)));
}

#[test]
fn a_port_nothing_claims_follows_the_bad_access_policy_too() {
    use crate::addr::IoPort;
    use crate::vcpu::PioAccess;
    let probe = VmExit::Pio(PioAccess { port: IoPort::new(0x2f8), size: 1, write: None });
    let kind = FaultKind::Port { port: IoPort::new(0x2f8), write: false };
    assert_eq!(dispatch(&aborting(BadAccessPolicy::Abort), 0, &probe), Action::Abort(kind));
    assert_eq!(dispatch(&aborting(BadAccessPolicy::Stop), 0, &probe), Action::Stop(Stop::Fault(kind)));
}

#[test]
fn back_to_back_repeats_of_one_aborted_access_are_reported_once() {
    let p = aborting(BadAccessPolicy::Abort);
    let (mut v, host) = (MockVcpu { can_abort: true, ..MockVcpu::default() }, MockHost::default());
    let (a, b) = (GuestPhysAddr::new(0x5100_0000), GuestPhysAddr::new(0x5100_0010));
    for gpa in [a, a, a, b, a] {
        v.exits.push_back(VmExit::Stage2Fault { gpa, write: false });
    }
    run_script(&p, &mut v, &host);
    assert_eq!(v.aborts, 5, "every access aborted");
    let reported: Vec<_> = host.events.borrow().iter().filter_map(|e| match e {
        Event::Faulted(f) => Some(f.kind),
        _ => None,
    }).collect();
    let kind = |gpa| FaultKind::Stage2 { gpa, write: false };
    assert_eq!(reported, [kind(a), kind(b), kind(a)]);
}

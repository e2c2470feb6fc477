//! The per-vCPU loop: start, run, dispatch, and the stop / restart protocol.
//!
//! Stopping a partition (halt, fault, restart) is done by whichever vCPU hits the
//! cause: under the lock it moves the lifecycle and turns every vCPU off, then kicks the
//! others out of guest mode and waits until none is in it, so a restart never reloads
//! RAM under a running vCPU.

use crate::addr::{GuestPhysAddr, IoPort};
use crate::config::RestartPolicy;
use crate::vcpu::ArchVcpu;

use super::dispatch::{dispatch, Action, Stop};
use super::{PartitionCtl, State, VcpuPower};

/// What a guest did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load or store to guest-physical memory it does not own.
    Stage2 {
        /// The address.
        gpa: GuestPhysAddr,
        /// Whether it was a store.
        write: bool,
    },
    /// An access an emulated device refused.
    Device {
        /// The address.
        gpa: GuestPhysAddr,
        /// Why.
        reason: &'static str,
    },
    /// An I/O port the partition was not given (x86).
    Port {
        /// The port.
        port: IoPort,
        /// Whether it was an `OUT`.
        write: bool,
    },
    /// A port access an emulated device refused.
    PortDevice {
        /// The port.
        port: IoPort,
        /// Why.
        reason: &'static str,
    },
    /// An instruction or trap the hypervisor will not emulate.
    Refused(&'static str),
}

/// A fault with the context a report needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What happened.
    pub kind: FaultKind,
    /// The vCPU it happened on.
    pub vcpu: usize,
    /// Guest program counter.
    pub pc: u64,
    /// Raw exit syndrome.
    pub syndrome: u64,
}

/// Lifecycle events the host reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// vCPU started (the boot vCPU's first start is the partition's start).
    VcpuStarted(usize),
    /// The partition powered off.
    Halted,
    /// The partition faulted.
    Faulted(Fault),
    /// The partition was restarted; the count of restarts so far.
    Restarted(u32),
    /// Its images could not be restored; it stays stopped.
    ReloadFailed(&'static str),
}

/// What the vCPU loop needs from the machine.
pub trait Host {
    /// Sleeps until this CPU is kicked (or returns at once: callers re-check state).
    fn wait(&self);
    /// Makes the CPU of vCPU `vcpu` of `part` leave guest mode, or wake from
    /// [`Host::wait`], and look at the partition's state again.
    fn kick(&self, part: &PartitionCtl, vcpu: usize);
    /// Clears the partition's RAM and restores its images; returns vCPU 0's entry and
    /// first argument.
    fn reload(&self, part: &PartitionCtl) -> Result<(GuestPhysAddr, u64), &'static str>;
    /// Reports an event.
    fn report(&self, part: &PartitionCtl, event: Event);
}

/// Runs vCPU `index` of `part` forever.
pub fn run_vcpu(part: &PartitionCtl, index: usize, vcpu: &mut impl ArchVcpu, host: &impl Host) -> ! {
    loop {
        step(part, index, vcpu, host);
    }
}

/// One turn of the loop: start if asked, else run the guest to its next exit and act
/// on it, else wait. Returns whether guest code ran.
pub fn step(part: &PartitionCtl, index: usize, vcpu: &mut impl ArchVcpu, host: &impl Host) -> bool {
    if !enter(part, index, vcpu, host) {
        host.wait();
        return false;
    }
    let exit = vcpu.run();
    let stopping = {
        let mut s = part.shared.lock();
        s.in_guest &= !(1u64 << index);
        s.life.state() != State::Running
    };
    if stopping {
        // Another vCPU is stopping the partition and waits for this one to leave.
        kick_others(part, index, host);
    }
    match dispatch(part, index, &exit) {
        Action::Resume => {}
        Action::Reply(values) => vcpu.set_results(&values),
        Action::Started(target, values) => {
            vcpu.set_results(&values);
            host.kick(part, target);
        }
        Action::Load(value) => {
            vcpu.complete_load(value);
            vcpu.skip_instruction();
        }
        Action::Stored => vcpu.skip_instruction(),
        Action::Park => park(part, index),
        Action::Stop(why) => stop(part, index, vcpu, host, why),
        Action::Abort(kind) => abort(part, index, vcpu, host, kind),
    }
    true
}

/// A bad access under the `abort` policy: the guest takes the architecture's abort and
/// goes on, and the event is reported with the same line a stop would print (once for
/// back-to-back repeats of the same access, as a probing loop makes); if the
/// architecture cannot inject it, the partition stops.
fn abort(part: &PartitionCtl, index: usize, vcpu: &mut impl ArchVcpu, host: &impl Host, kind: FaultKind) {
    let (pc, syndrome) = (vcpu.pc(), vcpu.syndrome());
    if vcpu.inject_abort() {
        if part.note_abort(kind) {
            host.report(part, Event::Faulted(Fault { kind, vcpu: index, pc, syndrome }));
        }
    } else {
        stop(part, index, vcpu, host, Stop::Fault(kind));
    }
}

/// Decides under the lock whether vCPU `index` may enter the guest now.
fn enter(part: &PartitionCtl, index: usize, vcpu: &mut impl ArchVcpu, host: &impl Host) -> bool {
    let mut s = part.shared.lock();
    if s.life.state() != State::Running {
        return false;
    }
    match s.vcpus.get(index).copied() {
        Some(VcpuPower::Pending { entry, context }) => {
            s.vcpus[index] = VcpuPower::On;
            s.in_guest |= 1u64 << index;
            drop(s);
            vcpu.reset(entry, context);
            host.report(part, Event::VcpuStarted(index));
            true
        }
        Some(VcpuPower::On) => {
            s.in_guest |= 1u64 << index;
            true
        }
        _ => false,
    }
}

fn park(part: &PartitionCtl, index: usize) {
    if let Some(v) = part.shared.lock().vcpus.get_mut(index) {
        *v = VcpuPower::Off;
    }
}

fn stop(part: &PartitionCtl, index: usize, vcpu: &impl ArchVcpu, host: &impl Host, why: Stop) {
    let restart = match why {
        Stop::Halt => false,
        Stop::Restart => true,
        Stop::Fault(_) => part.restart == RestartPolicy::Restart,
    };
    {
        let mut s = part.shared.lock();
        let first = match why {
            Stop::Halt => State::Halted,
            Stop::Restart => State::Restarting,
            Stop::Fault(_) => State::Faulted,
        };
        if s.life.go(first).is_err() {
            return; // another vCPU is already stopping the partition
        }
        if restart && first != State::Restarting && s.life.go(State::Restarting).is_err() {
            return;
        }
        s.vcpus.iter_mut().for_each(|v| *v = VcpuPower::Off);
    }
    let event = match why {
        Stop::Halt => Some(Event::Halted),
        Stop::Restart => None,
        Stop::Fault(kind) => {
            let (pc, syndrome) = (vcpu.pc(), vcpu.syndrome());
            Some(Event::Faulted(Fault { kind, vcpu: index, pc, syndrome }))
        }
    };
    if let Some(e) = event {
        host.report(part, e);
    }
    kick_others(part, index, host);
    while part.shared.lock().in_guest != 0 {
        host.wait();
    }
    if restart {
        reload(part, index, host);
    }
}

fn kick_others(part: &PartitionCtl, except: usize, host: &impl Host) {
    (0..part.vcpu_count()).filter(|&i| i != except).for_each(|i| host.kick(part, i));
}

fn reload(part: &PartitionCtl, index: usize, host: &impl Host) {
    let result = host.reload(part);
    let mut s = part.shared.lock();
    match result {
        Ok((entry, arg)) => {
            // Restarting → Loaded → Running cannot be refused: this vCPU owns the restart.
            let _ = s.life.go(State::Loaded);
            let _ = s.life.go(State::Running);
            if let Some(v) = s.vcpus.first_mut() {
                *v = VcpuPower::Pending { entry, context: arg };
            }
            let count = s.life.restarts();
            drop(s);
            host.report(part, Event::Restarted(count));
            if index != 0 {
                host.kick(part, 0);
            }
        }
        Err(why) => {
            let _ = s.life.go(State::Faulted);
            drop(s);
            host.report(part, Event::ReloadFailed(why));
        }
    }
}

//! Exit dispatch: one small handler per kind of exit, each answering with an [`Action`].

use crate::addr::GuestPhysAddr;
use crate::config::BadAccessPolicy;
use crate::hypercall as hc;
use crate::vcpu::{MmioAccess, PioAccess, PowerRequest, VmExit};

use super::run::FaultKind;
use super::{PartitionCtl, VcpuPower};

/// SMCCC / PSCI return codes core uses (Arm DEN0022 5.2.2).
mod code {
    pub const SUCCESS: i64 = 0;
    pub const NOT_SUPPORTED: i64 = -1;
    pub const INVALID_PARAMETERS: i64 = -2;
    pub const ALREADY_ON: i64 = -4;
    pub const AFFINITY_ON: i64 = 0;
    pub const AFFINITY_OFF: i64 = 1;
    pub const AFFINITY_ON_PENDING: i64 = 2;
}

/// How a stop request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The guest asked to power off.
    Halt,
    /// The guest asked to be reset.
    Restart,
    /// The guest did something it may not; the partition's policy decides.
    Fault(FaultKind),
}

/// What the vCPU loop does after an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Re-enter the guest unchanged.
    Resume,
    /// Write a call's result registers (unused ones zero) and re-enter.
    Reply([u64; 3]),
    /// As `Reply`, after waking the CPU of the vCPU (index) the call started.
    Started(usize, [u64; 3]),
    /// Complete an emulated load with the value, step past it, re-enter.
    Load(u64),
    /// Step past an emulated store and re-enter.
    Stored,
    /// This vCPU turned itself off.
    Park,
    /// Stop the whole partition.
    Stop(Stop),
    /// An access outside everything the partition owns, under the `abort` policy: the
    /// guest takes the architecture's abort for it and goes on; reported like a fault.
    Abort(FaultKind),
}

fn reply(value: i64) -> Action {
    Action::Reply([value as u64, 0, 0])
}

/// Decides what `exit` on vCPU `vcpu` of `part` means.
pub fn dispatch(part: &PartitionCtl, vcpu: usize, exit: &VmExit) -> Action {
    match *exit {
        VmExit::Hypercall { function, args } => hypercall(part, function, &args),
        VmExit::Power(req) => power(part, req),
        VmExit::Mmio(access) => mmio(part, vcpu, access),
        VmExit::Pio(access) => pio(part, vcpu, access),
        VmExit::Stage2Fault { gpa, write } => fault(part, stage2_fault(part, gpa, write)),
        VmExit::Idle | VmExit::Handled => Action::Resume,
        VmExit::Refused(what) => Action::Stop(Stop::Fault(FaultKind::Refused(what))),
    }
}

/// What `kind` leads to: an access to nothing the partition owns follows its bad-access
/// policy; everything else (a refused instruction, an access an emulated device cannot
/// take) stops it.
fn fault(part: &PartitionCtl, kind: FaultKind) -> Action {
    match (kind, part.bad_access) {
        (FaultKind::Stage2 { .. } | FaultKind::Port { .. }, BadAccessPolicy::Abort) => Action::Abort(kind),
        _ => Action::Stop(Stop::Fault(kind)),
    }
}

/// A fault the architecture could not turn into an emulated access: outside the
/// partition's memory, or an emulated device reached by an instruction the
/// architecture cannot decode (a load/store pair, an exclusive, a writeback form).
fn stage2_fault(part: &PartitionCtl, gpa: GuestPhysAddr, write: bool) -> FaultKind {
    match part.devices.find(gpa) {
        Some(_) => FaultKind::Device { gpa, reason: "an access to an emulated device it cannot decode" },
        None => FaultKind::Stage2 { gpa, write },
    }
}

fn hypercall(part: &PartitionCtl, function: u64, args: &[u64; 6]) -> Action {
    let Ok(function) = u32::try_from(function) else {
        return reply(code::NOT_SUPPORTED);
    };
    match function {
        hc::PARTITION_INFO => {
            let mut name = [0u64; 2];
            hc::pack_bytes(part.name.as_bytes(), &mut name);
            Action::Reply([part.id as u64, name[0], name[1]])
        }
        hc::CONSOLE_WRITE => console_write(part, args),
        hc::YIELD => reply(code::SUCCESS),
        hc::HALT_SELF => Action::Stop(Stop::Halt),
        hc::RESTART_SELF => Action::Stop(Stop::Restart),
        _ => reply(code::NOT_SUPPORTED),
    }
}

fn console_write(part: &PartitionCtl, args: &[u64; 6]) -> Action {
    let len = args[0];
    let Some(console) = &part.console else {
        return reply(code::NOT_SUPPORTED);
    };
    if len > hc::CONSOLE_WRITE_MAX as u64 {
        return reply(code::INVALID_PARAMETERS);
    }
    let mut bytes = [0u8; hc::CONSOLE_WRITE_MAX];
    let n = hc::unpack_bytes(&args[1..], len as usize, &mut bytes);
    console.push(&bytes[..n]);
    reply(code::SUCCESS)
}

fn power(part: &PartitionCtl, req: PowerRequest) -> Action {
    match req {
        PowerRequest::CpuOn { target, entry, context } => {
            let mut s = part.shared.lock();
            let Some(slot) = usize::try_from(target).ok().and_then(|t| s.vcpus.get_mut(t)) else {
                return reply(code::INVALID_PARAMETERS);
            };
            match *slot {
                // Committed to start counts as on, as under KVM: a racing CPU_ON of the
                // same target gets ALREADY_ON, never ON_PENDING (DEN0022 allows either).
                VcpuPower::On | VcpuPower::Pending { .. } => reply(code::ALREADY_ON),
                VcpuPower::Off => {
                    *slot = VcpuPower::Pending { entry, context };
                    Action::Started(target as usize, [code::SUCCESS as u64, 0, 0])
                }
            }
        }
        PowerRequest::CpuOff => Action::Park,
        PowerRequest::AffinityInfo { target } => {
            let power = usize::try_from(target).ok().and_then(|t| part.power(t));
            reply(match power {
                None => code::INVALID_PARAMETERS,
                Some(VcpuPower::On) => code::AFFINITY_ON,
                Some(VcpuPower::Off) => code::AFFINITY_OFF,
                Some(VcpuPower::Pending { .. }) => code::AFFINITY_ON_PENDING,
            })
        }
        PowerRequest::SystemOff => Action::Stop(Stop::Halt),
        PowerRequest::SystemReset => Action::Stop(Stop::Restart),
    }
}

fn mmio(part: &PartitionCtl, vcpu: usize, access: MmioAccess) -> Action {
    let Some((device, offset)) = part.devices.find(access.gpa) else {
        let write = access.write.is_some();
        return fault(part, FaultKind::Stage2 { gpa: access.gpa, write });
    };
    let result = match access.write {
        Some(value) => device.write(vcpu, offset, access.size, value).map(|()| Action::Stored),
        None => device.read(vcpu, offset, access.size).map(Action::Load),
    };
    result.unwrap_or_else(|bad| Action::Stop(Stop::Fault(FaultKind::Device { gpa: access.gpa, reason: bad.0 })))
}

fn pio(part: &PartitionCtl, vcpu: usize, access: PioAccess) -> Action {
    let Some((device, offset)) = part.ports.find(access.port) else {
        let write = access.write.is_some();
        return fault(part, FaultKind::Port { port: access.port, write });
    };
    let result = match access.write {
        Some(value) => device.write(vcpu, offset, access.size, value).map(|()| Action::Stored),
        None => device.read(vcpu, offset, access.size).map(Action::Load),
    };
    result.unwrap_or_else(|bad| Action::Stop(Stop::Fault(FaultKind::PortDevice { port: access.port, reason: bad.0 })))
}

//! The one line each lifecycle event is reported with, the same on every architecture
//! (the scenario harness and users match on it; doc/testing.md lists the forms).

use alloc::format;
use alloc::string::String;

use super::run::{Event, FaultKind};

/// Whether the event is an error (a fault, a failed restart) rather than news.
pub fn is_error(event: &Event) -> bool {
    matches!(event, Event::Faulted(_) | Event::ReloadFailed(_))
}

/// `partition <name> <what happened>`; a fault names the vCPU, the guest address (or
/// port), the guest program counter and the raw exit syndrome, which the architecture
/// calls `syndrome` (`esr` on ARM, `exit` on x86).
pub fn line(name: &str, event: &Event, syndrome: &str) -> String {
    match *event {
        Event::VcpuStarted(0) => format!("partition {name} started"),
        Event::VcpuStarted(i) => format!("partition {name} vcpu {i} started"),
        Event::Halted => format!("partition {name} halted"),
        Event::Restarted(n) => format!("partition {name} restarted ({n})"),
        Event::ReloadFailed(why) => format!("partition {name} cannot restart: {why}"),
        Event::Faulted(f) => {
            let (what, at) = match f.kind {
                FaultKind::Stage2 { gpa, write: true } => ("write outside its memory", format!("ipa={gpa}")),
                FaultKind::Stage2 { gpa, write: false } => ("access outside its memory", format!("ipa={gpa}")),
                FaultKind::Device { gpa, reason } => (reason, format!("ipa={gpa}")),
                FaultKind::Port { port, write: true } => ("write to an I/O port it was not given", format!("port={port}")),
                FaultKind::Port { port, write: false } => ("read of an I/O port it was not given", format!("port={port}")),
                FaultKind::PortDevice { port, reason } => (reason, format!("port={port}")),
                FaultKind::Refused(why) => (why, String::from("ipa=GPA:0x0")),
            };
            format!("partition {name} faulted: {what} vcpu={} {at} pc={:#x} {syndrome}={:#x}", f.vcpu, f.pc, f.syndrome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{GuestPhysAddr, IoPort};
    use crate::partition::Fault;

    #[test]
    fn fault_lines_name_vcpu_address_pc_and_syndrome() {
        let f = Fault { kind: FaultKind::Stage2 { gpa: GuestPhysAddr::new(0x5000_0000), write: false }, vcpu: 0, pc: 0x5208_0abc, syndrome: 0x9200_0007 };
        assert_eq!(
            line("beta", &Event::Faulted(f), "esr"),
            "partition beta faulted: access outside its memory vcpu=0 ipa=GPA:0x50000000 pc=0x52080abc esr=0x92000007"
        );
        let p = Fault { kind: FaultKind::Port { port: IoPort::new(0x80), write: true }, vcpu: 1, pc: 0x10_0123, syndrome: 30 };
        assert_eq!(
            line("gamma", &Event::Faulted(p), "exit"),
            "partition gamma faulted: write to an I/O port it was not given vcpu=1 port=PORT:0x80 pc=0x100123 exit=0x1e"
        );
        assert_eq!(line("alpha", &Event::Restarted(2), "esr"), "partition alpha restarted (2)");
    }
}

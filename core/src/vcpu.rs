//! The vCPU seam: what an architecture's `run()` returns and what core asks of it.
//!
//! Each architecture decodes its own exit syndrome (ESR_EL2, the VMCS exit reason) into
//! an arch-neutral [`VmExit`]; core decides what it means for the partition and answers
//! with an [`crate::partition::Action`]. Exits only the arch can finish (interrupt
//! acknowledgement, system-register traps of the interrupt controller) are handled
//! before `run()` returns and surface as [`VmExit::Handled`].

use crate::addr::{GuestPhysAddr, IoPort};

/// A decoded guest MMIO access that hit an emulated region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// The guest-physical address accessed.
    pub gpa: GuestPhysAddr,
    /// Access width in bytes (1, 2, 4 or 8).
    pub size: u8,
    /// `Some(value)` for a store, `None` for a load.
    pub write: Option<u64>,
}

/// A decoded guest I/O-port access (x86 `IN`/`OUT`) that no passthrough range covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PioAccess {
    /// The port.
    pub port: IoPort,
    /// Access width in bytes (1, 2 or 4).
    pub size: u8,
    /// `Some(value)` for an `OUT`, `None` for an `IN`.
    pub write: Option<u64>,
}

/// A power-management request from a guest (PSCI on ARM; INIT/SIPI, ACPI S5 and reset
/// ports on x86), already decoded by the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerRequest {
    /// Start the partition's vCPU `target` (a virtual id) at `entry` with `context`.
    CpuOn {
        /// Virtual vCPU id (MPIDR affinity / APIC id as the guest sees it).
        target: u64,
        /// Where it starts.
        entry: GuestPhysAddr,
        /// Value handed to it in its first argument register.
        context: u64,
    },
    /// Stop the calling vCPU.
    CpuOff,
    /// Whether vCPU `target` is on.
    AffinityInfo {
        /// Virtual vCPU id.
        target: u64,
    },
    /// Power the whole partition off.
    SystemOff,
    /// Reset the whole partition.
    SystemReset,
}

/// Why a vCPU stopped running guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmExit {
    /// A Bulkhead hypercall: function id and arguments.
    Hypercall {
        /// Function id (see [`crate::hypercall`]).
        function: u64,
        /// Arguments in calling-convention order.
        args: [u64; 6],
    },
    /// A power-management request.
    Power(PowerRequest),
    /// A load or store to guest-physical memory that is not mapped.
    Mmio(MmioAccess),
    /// An I/O-port access the hardware trapped (x86).
    Pio(PioAccess),
    /// A stage-2 fault that cannot be emulated (no syndrome to decode the access).
    Stage2Fault {
        /// Faulting guest-physical address.
        gpa: GuestPhysAddr,
        /// Whether it was a store.
        write: bool,
    },
    /// The guest waits for an interrupt (WFI / HLT).
    Idle,
    /// The architecture dealt with the exit itself (an interrupt, a trapped
    /// interrupt-controller register, a no-op cache maintenance trap).
    Handled,
    /// The guest did something the architecture will not emulate.
    Refused(&'static str),
}

/// What core needs from one architecture's vCPU.
pub trait ArchVcpu {
    /// Runs the guest until the next exit that needs a decision.
    fn run(&mut self) -> VmExit;
    /// Puts the vCPU in its architectural reset state, entering at `entry` with `arg` in
    /// the first argument register (x0 / rdi).
    fn reset(&mut self, entry: GuestPhysAddr, arg: u64);
    /// Sets the result registers of a completed call (x0, x1, … / rax, rdi, …).
    fn set_results(&mut self, values: &[u64]);
    /// Completes an emulated load by writing `value` to its destination register.
    fn complete_load(&mut self, value: u64);
    /// Steps past the instruction that caused the last (emulated MMIO) exit.
    fn skip_instruction(&mut self);
    /// The guest program counter, for reports.
    fn pc(&self) -> u64;
    /// The raw exit syndrome (ESR_EL2 / exit reason), for reports.
    fn syndrome(&self) -> u64;
    /// Makes the guest take, for the access that caused the last exit (a stage-2 fault or
    /// an access no device answered), what the hardware gives an access nothing answers
    /// (on ARM a synchronous external abort), so that its own handler runs next. Returns
    /// `false` where the architecture cannot (or the guest could not handle it); the
    /// partition is then stopped as if its policy were `stop`. The default cannot.
    fn inject_abort(&mut self) -> bool {
        false
    }
}

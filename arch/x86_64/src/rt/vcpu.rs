//! The x86 vCPU, common to both virtualization extensions: guest registers, the virtual
//! local APIC, interrupt injection and the loop that turns exits into core's
//! arch-neutral [`VmExit`]s. The extension itself (VMX or SVM) is a [`Vendor`]: it
//! enters the guest, decodes its exits into [`Exit`]s and holds the guest state its
//! control structure (VMCS, VMCB) keeps.
//!
//! One vCPU owns one physical CPU: guest state the hypervisor does not need (FPU/SSE/AVX
//! registers, XCR0, CR2, the SYSCALL MSRs, debug registers) stays live in the hardware
//! across exits, and the hypervisor, built soft-float, never touches it. An exit saves
//! the general-purpose registers only.

use bulkhead_core::addr::GuestPhysAddr;
use bulkhead_core::vcpu::{ArchVcpu, VmExit};

use super::apic;
use super::exits::Pending;
use super::setup::Part;
use crate::decode::Mode;
use crate::vlapic::VLapic;

/// Guest general-purpose registers other than RSP (and RAX on SVM, whose VMCB holds
/// it; the SVM layer keeps `gpr[0]` in step); the layout is the entry stubs'.
#[repr(C)]
#[derive(Default)]
pub struct GuestRegs {
    /// RAX, RCX, RDX, RBX, RBP, RSI, RDI, R8..R15.
    pub gpr: [u64; 15],
}

/// What the guest is asked to take at the next entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An external interrupt with this vector.
    Interrupt(u8),
    /// A hardware exception, with its error code if it has one.
    Exception(u8, Option<u32>),
}

/// An exit, decoded by the vendor layer into what the common code handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A physical interrupt arrived (its vector, if the exit acknowledged it).
    Interrupt(Option<u8>),
    /// The guest can take interrupts again.
    Window,
    /// CPUID, `len` bytes.
    Cpuid(u8),
    /// RDMSR, `len` bytes.
    Rdmsr(u8),
    /// WRMSR, `len` bytes.
    Wrmsr(u8),
    /// MOV to CR0 or CR4 from general register `gpr`.
    CrWrite {
        /// 0 or 4.
        cr: u8,
        /// Source register (encoding numbering).
        gpr: u8,
        /// Instruction length.
        len: u8,
    },
    /// MOV to CR `n`, the instruction not decoded (SVM without decode assists).
    MovToCr(u8),
    /// XSETBV.
    Xsetbv(u8),
    /// VMCALL / VMMCALL.
    Hypercall(u8),
    /// The guest raised #UD (intercepted: it may be the other vendor's hypercall
    /// instruction).
    InvalidOpcode,
    /// IN / OUT (`string`: INS/OUTS).
    Io {
        /// The port.
        port: u16,
        /// Bytes (1, 2, 4).
        size: u8,
        /// IN rather than OUT.
        input: bool,
        /// A string instruction.
        string: bool,
        /// Instruction length.
        len: u8,
    },
    /// An access the nested tables do not map.
    Fault {
        /// Guest-physical address.
        gpa: u64,
        /// A store.
        write: bool,
        /// An instruction fetch.
        fetch: bool,
    },
    /// An instruction a partition may not run (virtualization, SMX, PMU, MONITOR):
    /// it gets #UD.
    Undefined,
    /// An instruction that is skipped without effect (WBINVD, INVD), `len` bytes.
    Skip(u8),
    /// The partition cannot go on (triple fault, shutdown, invalid state).
    Stop(&'static str),
    /// Nothing to do (an NMI, a stray INIT): re-enter.
    Nothing,
}

/// CR0 bits: PE, ET, NE, PG.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.ET.
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// The reset value of IA32_PAT.
pub const PAT_RESET: u64 = 0x0007_0406_0007_0406;
/// Access rights of a busy 32-bit TSS (type 11, present), TR's start value.
pub const AR_TSS: u32 = 0x8b;

/// A segment register's start value; `access` in VMX's layout (type, S, DPL, P in bits
/// 7:0; AVL, L, D/B, G in bits 15:12), which SVM packs into 12 bits.
#[derive(Clone, Copy)]
pub struct Segment {
    /// Selector.
    pub selector: u16,
    /// Base.
    pub base: u64,
    /// Limit (bytes - 1).
    pub limit: u32,
    /// Access rights.
    pub access: u32,
}

/// Where a vCPU starts (doc/x86.md, "Entry"); both extensions load it.
pub struct StartState {
    /// CS.
    pub cs: Segment,
    /// DS, ES, SS, FS, GS.
    pub data: Segment,
    /// CR0 as the guest sees it.
    pub cr0: u64,
    /// RIP.
    pub rip: u64,
}

/// vCPU 0: flat 32-bit protected mode at `entry`, paging off. An AP after its SIPI:
/// real mode at `CS:IP = (page >> 4):0`.
pub fn start_state(entry: GuestPhysAddr, protected: bool) -> StartState {
    if protected {
        StartState {
            // 32-bit code (G, D, P, S, execute/read, accessed) and data (read/write).
            cs: Segment { selector: 0x10, base: 0, limit: 0xffff_ffff, access: 0xc09b },
            data: Segment { selector: 0x18, base: 0, limit: 0xffff_ffff, access: 0xc093 },
            cr0: CR0_PE | CR0_ET | CR0_NE,
            rip: entry.as_u64(),
        }
    } else {
        let page = entry.as_u64();
        StartState {
            cs: Segment { selector: (page >> 4) as u16, base: page, limit: 0xffff, access: 0x9b },
            data: Segment { selector: 0, base: 0, limit: 0xffff, access: 0x93 },
            cr0: CR0_ET | CR0_NE,
            rip: 0,
        }
    }
}

/// The virtualization extension's side of a vCPU.
pub trait Vendor {
    /// Runs the guest until its next exit.
    fn enter(&mut self, regs: &mut GuestRegs) -> Result<(), &'static str>;
    /// Decodes the exit that just happened (queueing again an event it interrupted).
    fn exit(&mut self, regs: &GuestRegs) -> Exit;
    /// The raw exit reason and qualification, for reports.
    fn syndrome(&self) -> u64;
    /// RIP.
    fn rip(&self) -> u64;
    /// Sets RIP.
    fn set_rip(&mut self, rip: u64);
    /// RSP (register 4).
    fn rsp(&self) -> u64;
    /// Sets RSP.
    fn set_rsp(&mut self, rsp: u64);
    /// Whether an external interrupt can be injected now (RFLAGS.IF, no interrupt
    /// shadow, nothing queued already).
    fn can_inject(&self) -> bool;
    /// Queues `event` for the next entry (and wakes a halted vCPU for an interrupt).
    fn inject(&mut self, event: Event);
    /// Exits as soon as the guest can take an interrupt, or stops doing so.
    fn interrupt_window(&mut self, on: bool);
    /// Ends an STI / MOV SS interrupt shadow (the instruction was emulated).
    fn clear_shadow(&mut self);
    /// The current privilege level.
    fn cpl(&self) -> u8;
    /// CR0 as the guest sees it.
    fn cr0(&self) -> u64;
    /// CR3.
    fn cr3(&self) -> u64;
    /// EFER as the guest sees it.
    fn efer(&self) -> u64;
    /// MOV to CR0.
    fn set_cr0(&mut self, value: u64);
    /// MOV to CR4 (a value without reserved bits: the common code checked).
    fn set_cr4(&mut self, value: u64);
    /// WRMSR EFER (the value passed the allow list).
    fn set_efer(&mut self, value: u64);
    /// The code size and CS base, for fetching and decoding an instruction.
    fn code(&self) -> (Mode, u64);
    /// Architectural start state: 32-bit protected mode at `entry` (vCPU 0, doc/x86.md)
    /// or real mode at page `entry` (an AP's SIPI).
    fn reset(&mut self, entry: GuestPhysAddr, protected: bool);
    /// Last adjustments before an entry (IA-32e entry control on VMX).
    fn before_entry(&mut self) {}
}

/// One vCPU of a partition, pinned to the current physical CPU.
pub struct Vcpu<V: Vendor> {
    pub(super) regs: GuestRegs,
    pub(super) part: &'static Part,
    pub(super) index: usize,
    pub(super) lapic: VLapic,
    pub(super) vendor: V,
    /// The physical TSC deadline programmed for this vCPU's virtual timer.
    armed: u64,
    /// What the last exit left for core's answer.
    pub(super) pending: Pending,
}

impl GuestRegs {
    /// Register `n` in the instruction encoding's numbering (0 = RAX … 15 = R15), RSP
    /// from the vendor's state.
    pub fn get(&self, n: u8, vendor: &impl Vendor) -> u64 {
        match n {
            0..=3 => self.gpr[usize::from(n)],
            4 => vendor.rsp(),
            5..=15 => self.gpr[usize::from(n) - 1],
            _ => 0,
        }
    }

    /// Sets register `n`.
    pub fn set(&mut self, n: u8, value: u64, vendor: &mut impl Vendor) {
        match n {
            0..=3 => self.gpr[usize::from(n)] = value,
            4 => vendor.set_rsp(value),
            5..=15 => self.gpr[usize::from(n) - 1] = value,
            _ => {}
        }
    }
}

impl<V: Vendor> Vcpu<V> {
    /// vCPU `index` of `part` over the vendor layer `vendor`.
    pub fn new(part: &'static Part, index: usize, vendor: V) -> Self {
        Self { regs: GuestRegs::default(), part, index, lapic: VLapic::new(index as u32), vendor, armed: 0, pending: Pending::None }
    }

    /// Register `n`.
    pub(super) fn reg(&self, n: u8) -> u64 {
        self.regs.get(n, &self.vendor)
    }

    /// Sets register `n`.
    pub(super) fn set_reg(&mut self, n: u8, value: u64) {
        self.regs.set(n, value, &mut self.vendor);
    }

    /// Everything due before the next entry: interrupts from other CPUs, an expired
    /// timer, an interrupt to inject (or a window to wait for), the physical deadline.
    fn prepare(&mut self) {
        if let Some(inbox) = self.part.inboxes.get(self.index) {
            self.lapic.merge(inbox);
        }
        let now = apic::tsc();
        if self.lapic.deadline().is_some_and(|d| d <= now) {
            self.lapic.expire(now);
        }
        if let Some(vector) = self.lapic.pending() {
            if self.vendor.can_inject() {
                self.vendor.inject(Event::Interrupt(vector));
                self.lapic.ack(vector);
            } else {
                self.vendor.interrupt_window(true);
            }
        }
        let deadline = self.lapic.deadline().unwrap_or(0);
        if deadline != self.armed {
            apic::set_deadline(deadline);
            self.armed = deadline;
        }
        self.vendor.before_entry();
    }

    /// Steps RIP past the instruction that exited, by its length.
    pub(super) fn skip(&mut self, len: u8) {
        let rip = self.vendor.rip();
        self.vendor.set_rip(rip + u64::from(len));
        self.vendor.clear_shadow();
    }
}

impl<V: Vendor> ArchVcpu for Vcpu<V> {
    fn run(&mut self) -> VmExit {
        loop {
            self.prepare();
            if let Err(why) = self.vendor.enter(&mut self.regs) {
                return VmExit::Refused(why);
            }
            let exit = self.vendor.exit(&self.regs);
            if let Some(exit) = self.handle(exit) {
                return exit;
            }
        }
    }

    fn reset(&mut self, entry: GuestPhysAddr, arg: u64) {
        self.regs = GuestRegs::default();
        self.lapic = VLapic::new(self.index as u32);
        self.pending = Pending::None;
        self.vendor.reset(entry, self.index == 0);
        if self.index == 0 {
            self.set_reg(6, arg); // ESI: the zero page
        }
    }

    fn set_results(&mut self, values: &[u64]) {
        if let Pending::Results = self.pending {
            // RAX, then RDI, RSI: the hypercall ABI's result registers.
            for (n, v) in [0u8, 7, 6].into_iter().zip(values) {
                self.set_reg(n, *v);
            }
        }
    }

    fn complete_load(&mut self, value: u64) {
        self.complete(value);
    }

    fn skip_instruction(&mut self) {
        if let Pending::Access { len, .. } = self.pending {
            self.skip(len);
        }
        self.pending = Pending::None;
    }

    fn pc(&self) -> u64 {
        self.vendor.rip()
    }

    /// What a PC's bus gives a port or memory access nothing claims: a load reads all
    /// ones, a store is dropped, and the instruction completes. Only a decoded access
    /// can be finished so; anything else (a fetch, an undecodable instruction) stops.
    fn inject_abort(&mut self) -> bool {
        if !matches!(self.pending, Pending::Access { .. }) {
            return false;
        }
        self.complete(u64::MAX);
        self.skip_instruction();
        true
    }

    fn syndrome(&self) -> u64 {
        self.vendor.syndrome()
    }
}

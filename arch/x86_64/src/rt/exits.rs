//! VM exits: finished here when they need no decision by core (CPUID, the virtual APIC,
//! control registers, XSETBV, interrupts), turned into core's [`VmExit`] otherwise
//! (hypercalls, port and MMIO accesses, power requests, faults). SDM Vol. 3C 28.2 has
//! the exit-qualification formats used below.

use bulkhead_core::addr::{GuestPhysAddr, IoPort};
use bulkhead_core::vcpu::{MmioAccess, PioAccess, PowerRequest, VmExit};

use super::vcpu::{set_proc, Vcpu};
use super::vmx::Field;
use super::{apic, guestmem};
use crate::cpuid::{self, Regs, View};
use crate::decode::Op;
use crate::guestboot::{PM1A_CNT, PM1A_EVT, RESET_PORT, RESET_VALUE, SLP_TYP_S5};
use crate::msr::{self as msrs, Access};
use crate::vlapic::{self, Delivery, Dest, Effect};
use crate::vmcs::{field, proc, reason};

/// #UD, #GP.
const UD: u8 = 6;
const GP: u8 = 13;

/// What core's answer to the last exit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Nothing.
    None,
    /// A hypercall: results go to RAX, RDI, RSI.
    Results,
    /// An emulated port or MMIO access of `len` bytes of instruction; a load goes to
    /// register `reg` (encoding numbering, 16+ = AH..BH), `size` bytes, extended to
    /// `dest` bytes (`sign`-extended).
    Access {
        /// Instruction length.
        len: u8,
        /// Destination register of a load (`None` for a store).
        reg: Option<u8>,
        /// Bytes loaded.
        size: u8,
        /// Destination width.
        dest: u8,
        /// Sign-extend.
        sign: bool,
    },
}

impl Vcpu {
    /// Handles the exit that just happened; `None` re-enters the guest at once.
    pub(super) fn handle_exit(&mut self) -> Option<VmExit> {
        let full = field::EXIT_REASON.read();
        self.reason = full as u16;
        self.qualification = field::EXIT_QUALIFICATION.read();
        self.pending = Pending::None;
        self.reinject_vectoring();
        if full & (1 << 31) != 0 {
            return Some(VmExit::Refused("VM entry failed: the guest state is invalid"));
        }
        match self.reason {
            reason::EXTERNAL_INTERRUPT => self.interrupt(),
            reason::INTERRUPT_WINDOW => {
                set_proc(proc::INTERRUPT_WINDOW, false);
                None
            }
            reason::CPUID => {
                self.cpuid();
                None
            }
            reason::RDMSR => self.rdmsr(),
            reason::WRMSR => self.wrmsr(),
            reason::CR_ACCESS => self.cr_access(),
            reason::XSETBV => {
                self.xsetbv();
                None
            }
            reason::VMCALL => {
                self.skip(3);
                self.pending = Pending::Results;
                let r = &self.regs;
                let args = [r.get(7), r.get(6), r.get(2), r.get(10), r.get(8), r.get(9)];
                Some(VmExit::Hypercall { function: r.get(0), args })
            }
            reason::IO => self.io(),
            reason::EPT_VIOLATION => Some(self.ept_violation()),
            reason::WBINVD | reason::INVD => {
                // Caches are the machine's: a partition may not flush (or drop) them.
                self.skip(2);
                None
            }
            reason::VMCALL..=reason::VMXON
            | reason::INVEPT
            | reason::INVVPID
            | reason::VMFUNC
            | reason::GETSEC
            | reason::RDPMC
            | reason::MWAIT
            | reason::MONITOR
            | reason::ENCLS => {
                self.inject_exception(UD, None);
                None
            }
            reason::EXCEPTION_NMI | reason::INIT | reason::SIPI => None,
            reason::TRIPLE_FAULT => Some(VmExit::Refused("triple fault")),
            reason::TASK_SWITCH => Some(VmExit::Refused("a hardware task switch")),
            reason::EPT_MISCONFIG => Some(VmExit::Refused("EPT misconfiguration")),
            _ => Some(VmExit::Refused("an unexpected VM exit")),
        }
    }

    /// An event being delivered when the exit happened is delivered again on entry.
    fn reinject_vectoring(&mut self) {
        let info = field::IDT_VECTORING_INFO.read();
        if info & (1 << 31) == 0 {
            return;
        }
        field::ENTRY_INTERRUPTION_INFO.write(info & !(1 << 12));
        if info & (1 << 11) != 0 {
            field::ENTRY_EXCEPTION_ERROR_CODE.write(field::IDT_VECTORING_ERROR_CODE.read());
        }
        if matches!((info >> 8) & 7, 4..=6) {
            field::ENTRY_INSTRUCTION_LENGTH.write(field::EXIT_INSTRUCTION_LENGTH.read());
        }
    }

    fn interrupt(&mut self) -> Option<VmExit> {
        let vector = field::EXIT_INTERRUPTION_INFO.read() as u8;
        apic::eoi();
        match vector {
            apic::KICK => Some(VmExit::Handled),
            v if (apic::PIN_BASE..apic::PIN_BASE + 24).contains(&v) => {
                self.part.device_pin(u32::from(v - apic::PIN_BASE));
                None
            }
            _ => None, // the timer: `prepare` expires it
        }
    }

    fn cpuid(&mut self) {
        let (leaf, subleaf) = (self.regs.get(0) as u32, self.regs.get(1) as u32);
        let host = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        let view = View {
            apic_id: self.index as u32,
            vcpus: self.part.pcpus.len() as u32,
            partition: self.part.ctl.id as u32,
            tsc_khz: self.part.tsc_khz,
        };
        let r = cpuid::filter(leaf, subleaf, Regs { eax: host.eax, ebx: host.ebx, ecx: host.ecx, edx: host.edx }, &view);
        for (n, v) in [(0, r.eax), (3, r.ebx), (1, r.ecx), (2, r.edx)] {
            self.regs.set(n, u64::from(v));
        }
        self.skip(2);
    }

    fn rdmsr(&mut self) -> Option<VmExit> {
        let index = self.regs.get(1) as u32;
        let value = match msrs::classify(index, false) {
            Access::Apic => self.lapic.read(index, apic::tsc()).ok(),
            Access::Constant(v) => Some(v),
            Access::ApicBase => Some(0xfee0_0000 | (1 << 11) | (1 << 10) | if self.index == 0 { 1 << 8 } else { 0 }),
            Access::Efer | Access::Ignore | Access::Fault => None,
        };
        match value {
            Some(v) => {
                self.regs.set(0, v & 0xffff_ffff);
                self.regs.set(2, v >> 32);
                self.skip(2);
            }
            None => self.inject_exception(GP, Some(0)),
        }
        None
    }

    fn wrmsr(&mut self) -> Option<VmExit> {
        let index = self.regs.get(1) as u32;
        let value = (self.regs.get(2) << 32) | (self.regs.get(0) & 0xffff_ffff);
        let ok = match msrs::classify(index, true) {
            Access::Apic => match self.lapic.write(index, value, apic::tsc()) {
                Ok(effect) => {
                    self.skip(2);
                    return self.apic_effect(effect);
                }
                Err(_) => false,
            },
            Access::ApicBase => value & 0xffff_ffff_ffff_f000 == 0xfee0_0000 && value & (3 << 10) == 3 << 10,
            Access::Efer => self.write_efer(value),
            Access::Ignore => true,
            Access::Constant(_) | Access::Fault => false,
        };
        if ok {
            self.skip(2);
        } else {
            self.inject_exception(GP, Some(0));
        }
        None
    }

    fn write_efer(&mut self, value: u64) -> bool {
        if value & !msrs::EFER_WRITABLE != 0 {
            return false;
        }
        let paging = field::GUEST_CR0.read() & (1 << 31) != 0;
        let lme = value & (1 << 8) != 0;
        let lma = if lme && paging { 1 << 10 } else { 0 };
        field::GUEST_IA32_EFER.write((value & !(1 << 10)) | lma);
        true
    }

    /// What a virtual APIC write asks for: IPIs to the partition's own vCPUs (never
    /// beyond them), INIT/SIPI as power requests, level EOIs to the I/O APIC.
    fn apic_effect(&mut self, effect: Effect) -> Option<VmExit> {
        match effect {
            Effect::Ipi(dest, delivery) => self.ipi(dest, delivery),
            Effect::LevelEoi(vector) => {
                self.part.level_eoi(vector);
                None
            }
            Effect::Timer | Effect::None => None,
        }
    }

    fn ipi(&mut self, dest: Dest, delivery: Delivery) -> Option<VmExit> {
        let me = self.index as u32;
        let vcpus = self.part.pcpus.len() as u32;
        for target in (0..vcpus).filter(|&t| vlapic::matches(dest, me, t)) {
            match delivery {
                Delivery::Fixed(v) if target == me => self.lapic.accept(v, false),
                Delivery::Fixed(v) => self.part.post(target as usize, v),
                Delivery::Startup(page) => {
                    // core starts the vCPU if it is off; a started one ignores it, as a
                    // CPU out of wait-for-SIPI does.
                    self.pending = Pending::None;
                    let entry = GuestPhysAddr::new(u64::from(page) << 12);
                    return Some(VmExit::Power(PowerRequest::CpuOn { target: u64::from(target), entry, context: 0 }));
                }
                Delivery::Init | Delivery::Nmi => {}
            }
        }
        None
    }

    fn cr_access(&mut self) -> Option<VmExit> {
        let q = self.qualification;
        let (cr, kind, reg) = (q & 0xf, (q >> 4) & 3, ((q >> 8) & 0xf) as u8);
        let value = self.regs.get(reg);
        match (cr, kind) {
            (0, 0) => {
                field::GUEST_CR0.write(self.ctl.cr0(value));
                field::CR0_READ_SHADOW.write(value);
                let efer = field::GUEST_IA32_EFER.read();
                if efer & (1 << 8) != 0 {
                    let lma = if value & (1 << 31) != 0 { 1 << 10 } else { 0 };
                    field::GUEST_IA32_EFER.write((efer & !(1 << 10)) | lma);
                }
            }
            (4, 0) => {
                if value & (1 << 13) != 0 {
                    // CR4.VMXE: no VMX inside a partition.
                    self.inject_exception(GP, Some(0));
                    return None;
                }
                field::GUEST_CR4.write(self.ctl.cr4(value));
                field::CR4_READ_SHADOW.write(value);
            }
            _ => return Some(VmExit::Refused("a control-register access the hypervisor does not emulate")),
        }
        self.skip(u64::from(field::EXIT_INSTRUCTION_LENGTH.read()));
        None
    }

    fn xsetbv(&mut self) {
        let (index, value) = (self.regs.get(1) as u32, (self.regs.get(2) << 32) | (self.regs.get(0) & 0xffff_ffff));
        let supported = core::arch::x86_64::__cpuid_count(0xd, 0);
        let allowed = (u64::from(supported.edx) << 32) | u64::from(supported.eax);
        // x87 on; AVX needs SSE (SDM Vol. 1 13.3).
        let valid = index == 0 && value & !allowed == 0 && value & 1 != 0 && (value & 4 == 0 || value & 2 != 0);
        if !valid {
            self.inject_exception(GP, Some(0));
            return;
        }
        // SAFETY: XCR0 is the guest's (the hypervisor never uses XSAVE state) and the
        // value passed the architecture's own checks above.
        unsafe { core::arch::asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32) };
        self.skip(3);
    }

    /// An I/O instruction on a port the partition was not given (SDM Vol. 3C Table 28-5).
    fn io(&mut self) -> Option<VmExit> {
        let q = self.qualification;
        let size = (q & 7) as u8 + 1;
        let input = q & (1 << 3) != 0;
        let port = (q >> 16) as u16;
        if q & (1 << 4) != 0 {
            return Some(VmExit::Refused("string I/O to a port the hypervisor emulates"));
        }
        let len = field::EXIT_INSTRUCTION_LENGTH.read() as u8;
        let value = self.regs.get(0) & (u64::MAX >> (64 - 8 * u32::from(size)));
        if let Some(exit) = self.power_port(port, input, value) {
            return exit;
        }
        self.pending = Pending::Access { len, reg: input.then_some(0), size, dest: size, sign: false };
        let write = (!input).then_some(value);
        Some(VmExit::Pio(PioAccess { port: IoPort::new(u64::from(port)), size, write }))
    }

    /// The ACPI PM and reset ports of doc/x86.md: `Some` when the access was one of
    /// them (`Some(None)`: emulated, go on).
    fn power_port(&mut self, port: u16, input: bool, value: u64) -> Option<Option<VmExit>> {
        let len = u64::from(field::EXIT_INSTRUCTION_LENGTH.read());
        let request = match port {
            RESET_PORT if !input && value as u8 & RESET_VALUE == RESET_VALUE => Some(PowerRequest::SystemReset),
            PM1A_CNT if !input && value & (1 << 13) != 0 && (value >> 10) & 7 == u64::from(SLP_TYP_S5) => {
                Some(PowerRequest::SystemOff)
            }
            RESET_PORT | PM1A_CNT..=0x605 | PM1A_EVT..=0x603 => None,
            _ => return None,
        };
        if input {
            self.regs.set(0, self.regs.get(0) & !0xffff_ffff); // the PM registers read 0
        }
        self.skip(len);
        Some(request.map(VmExit::Power))
    }

    /// An access to guest-physical memory the EPT does not map: an emulated device
    /// (decoded), or a fault.
    fn ept_violation(&mut self) -> VmExit {
        let gpa = GuestPhysAddr::new(field::GUEST_PHYSICAL_ADDRESS.read());
        let write = self.qualification & (1 << 1) != 0;
        let fetch = self.qualification & (1 << 2) != 0;
        let decoded = if fetch { None } else { guestmem::fetch_and_decode(self) };
        let Some(access) = decoded.filter(|a| matches!(a.op, Op::Store { .. } | Op::StoreImm(_)) == write) else {
            return VmExit::Stage2Fault { gpa, write };
        };
        let (reg, value, dest, sign) = match access.op {
            Op::Load { reg, sign, dest_size } => (Some(reg), None, dest_size, sign),
            Op::Store { reg } => (None, Some(self.register_value(reg)), access.size, false),
            Op::StoreImm(v) => (None, Some(v), access.size, false),
        };
        self.pending = Pending::Access { len: access.len, reg, size: access.size, dest, sign };
        let mask = u64::MAX >> (64 - 8 * u32::from(access.size));
        VmExit::Mmio(MmioAccess { gpa, size: access.size, write: value.map(|v| v & mask) })
    }

    /// A register as a store's source (16+ = AH, CH, DH, BH).
    fn register_value(&self, reg: u8) -> u64 {
        if reg >= 16 {
            self.regs.get(reg - 16) >> 8
        } else {
            self.regs.get(reg)
        }
    }

    /// Finishes an emulated load with `value`.
    pub(super) fn complete(&mut self, value: u64) {
        let Pending::Access { reg: Some(reg), size, dest, sign, .. } = self.pending else { return };
        let bits = 8 * u32::from(size);
        let mut v = if bits >= 64 { value } else { value & ((1 << bits) - 1) };
        if sign && bits < 64 {
            v = ((v << (64 - bits)) as i64 >> (64 - bits)) as u64;
        }
        if reg >= 16 {
            let n = reg - 16;
            let old = self.regs.get(n);
            self.regs.set(n, (old & !0xff00) | ((v & 0xff) << 8));
            return;
        }
        let old = self.regs.get(reg);
        let merged = match dest {
            1 => (old & !0xff) | (v & 0xff),
            2 => (old & !0xffff) | (v & 0xffff),
            4 => v & 0xffff_ffff, // a 32-bit destination clears the upper half
            _ => v,
        };
        self.regs.set(reg, merged);
    }
}

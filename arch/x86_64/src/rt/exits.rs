//! Exits, common to VMX and SVM: finished here when they need no decision by core
//! (CPUID, the virtual APIC, control registers, XSETBV, interrupts), turned into core's
//! [`VmExit`] otherwise (hypercalls, port and MMIO accesses, power requests, faults).

use bulkhead_core::addr::{GuestPhysAddr, IoPort};
use bulkhead_core::vcpu::{MmioAccess, PioAccess, PowerRequest, VmExit};

use super::vcpu::{Event, Exit, Vcpu, Vendor};
use super::{apic, guestmem};
use crate::cpuid::{self, Regs, View};
use crate::decode::Op;
use crate::guestboot::{PM1A_CNT, PM1A_EVT, RESET_PORT, RESET_VALUE, SLP_TYP_S5};
use crate::msr::{self as msrs, Access};
use crate::vlapic::{self, Delivery, Dest, Effect};

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

impl<V: Vendor> Vcpu<V> {
    /// Handles a decoded exit; `None` re-enters the guest at once.
    pub(super) fn handle(&mut self, exit: Exit) -> Option<VmExit> {
        self.pending = Pending::None;
        match exit {
            Exit::Interrupt(vector) => self.interrupt(vector),
            Exit::Window => {
                self.vendor.interrupt_window(false);
                None
            }
            Exit::Cpuid(len) => {
                self.cpuid(len);
                None
            }
            Exit::Rdmsr(len) => self.rdmsr(len),
            Exit::Wrmsr(len) => self.wrmsr(len),
            Exit::CrWrite { cr, gpr, len } => {
                self.cr_write(cr, gpr, len);
                None
            }
            Exit::MovToCr(cr) => {
                let mut code = [0u8; 15];
                let n = guestmem::fetch(self.part, &self.vendor, &mut code);
                match crate::decode::mov_to_cr(&code[..n], self.vendor.code().0) {
                    Some((c, gpr, len)) if c == cr => {
                        self.cr_write(cr, gpr, len);
                        None
                    }
                    _ => Some(VmExit::Refused("a control-register write the hypervisor cannot decode")),
                }
            }
            Exit::Xsetbv(len) => {
                self.xsetbv(len);
                None
            }
            Exit::Hypercall(_) if self.vendor.cpl() != 0 => {
                // Hypercalls are the partition kernel's: its user mode gets #UD, as it
                // would on hardware without a hypervisor.
                self.vendor.inject(Event::Exception(UD, None));
                None
            }
            Exit::InvalidOpcode => {
                // VMCALL on AMD and VMMCALL on Intel are hypercalls too, so one guest
                // binary runs on both (doc/x86.md); any other #UD goes back.
                let mut code = [0u8; 15];
                let n = guestmem::fetch(self.part, &self.vendor, &mut code);
                if n >= 3 && code[..2] == [0x0f, 0x01] && matches!(code[2], 0xc1 | 0xd9) {
                    return self.handle(Exit::Hypercall(3));
                }
                self.vendor.inject(Event::Exception(UD, None));
                None
            }
            Exit::Hypercall(len) => {
                self.skip(len);
                self.pending = Pending::Results;
                let args = [self.reg(7), self.reg(6), self.reg(2), self.reg(10), self.reg(8), self.reg(9)];
                Some(VmExit::Hypercall { function: self.reg(0), args })
            }
            Exit::Io { port, size, input, string, len } => self.io(port, size, input, string, len),
            Exit::Fault { gpa, write, fetch } => Some(self.fault(gpa, write, fetch)),
            Exit::Skip(len) => {
                // Caches are the machine's: a partition may not flush (or drop) them.
                self.skip(len);
                None
            }
            Exit::Undefined => {
                self.vendor.inject(Event::Exception(UD, None));
                None
            }
            Exit::Stop(why) => Some(VmExit::Refused(why)),
            Exit::Nothing => None,
        }
    }

    /// Physical interrupts: the hypervisor's kick (core looks at the partition), device
    /// pins of this partition, the timer (`prepare` expires it). VMX acknowledged one
    /// (`vector`); SVM leaves them pending, and they are taken and ended here.
    fn interrupt(&mut self, vector: Option<u8>) -> Option<VmExit> {
        let taken = match vector {
            Some(v) => {
                apic::eoi();
                apic::Vectors::one(v)
            }
            None => apic::take_pending(),
        };
        for pin in 0..crate::vioapic::PINS {
            if taken.has(apic::PIN_BASE + pin as u8) {
                self.part.device_pin(pin);
            }
        }
        taken.has(apic::KICK).then_some(VmExit::Handled)
    }

    fn cpuid(&mut self, len: u8) {
        let (leaf, subleaf) = (self.reg(0) as u32, self.reg(1) as u32);
        let host = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        let r = cpuid::filter(leaf, subleaf, Regs { eax: host.eax, ebx: host.ebx, ecx: host.ecx, edx: host.edx }, &self.view());
        for (n, v) in [(0, r.eax), (3, r.ebx), (1, r.ecx), (2, r.edx)] {
            self.set_reg(n, u64::from(v));
        }
        self.skip(len);
    }

    /// What the CPUID filter needs to know about this vCPU.
    fn view(&self) -> View {
        View {
            apic_id: self.index as u32,
            vcpus: self.part.pcpus.len() as u32,
            partition: self.part.ctl.id as u32,
            tsc_khz: self.part.tsc_khz,
        }
    }

    fn rdmsr(&mut self, len: u8) -> Option<VmExit> {
        let index = self.reg(1) as u32;
        let value = match msrs::classify(index, false) {
            Access::Apic => self.lapic.read(index, apic::tsc()).ok(),
            Access::Constant(v) => Some(v),
            Access::ApicBase => Some(0xfee0_0000 | (1 << 11) | (1 << 10) | if self.index == 0 { 1 << 8 } else { 0 }),
            Access::Efer => Some(self.vendor.efer()),
            Access::Ignore | Access::Fault => None,
        };
        match value {
            Some(v) => {
                self.set_reg(0, v & 0xffff_ffff);
                self.set_reg(2, v >> 32);
                self.skip(len);
            }
            None => self.vendor.inject(Event::Exception(GP, Some(0))),
        }
        None
    }

    fn wrmsr(&mut self, len: u8) -> Option<VmExit> {
        let index = self.reg(1) as u32;
        let value = (self.reg(2) << 32) | (self.reg(0) & 0xffff_ffff);
        let ok = match msrs::classify(index, true) {
            Access::Apic => match self.lapic.write(index, value, apic::tsc()) {
                Ok(effect) => {
                    self.skip(len);
                    return self.apic_effect(effect);
                }
                Err(_) => false,
            },
            Access::ApicBase => value & 0xffff_ffff_ffff_f000 == 0xfee0_0000 && value & (3 << 10) == 3 << 10,
            Access::Efer if value & !msrs::EFER_WRITABLE == 0 => {
                self.vendor.set_efer(value);
                true
            }
            Access::Ignore => true,
            Access::Efer | Access::Constant(_) | Access::Fault => false,
        };
        if ok {
            self.skip(len);
        } else {
            self.vendor.inject(Event::Exception(GP, Some(0)));
        }
        None
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
                Delivery::Fixed(v) => self.part.post(target as usize, v, false),
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

    fn cr_write(&mut self, cr: u8, gpr: u8, len: u8) {
        let value = self.reg(gpr);
        let ok = match cr {
            0 => {
                self.vendor.set_cr0(value);
                true
            }
            // CR4.VMXE / SMXE and features the partition is not shown: #GP, as on a CPU
            // without them.
            _ if value & self.cr4_reserved() != 0 => false,
            _ => {
                self.vendor.set_cr4(value);
                true
            }
        };
        if ok {
            self.skip(len);
        } else {
            self.vendor.inject(Event::Exception(GP, Some(0)));
        }
    }

    /// The CR4 bits this partition may not set (its CPUID view).
    fn cr4_reserved(&self) -> u64 {
        let view = self.view();
        let leaf = |n: u32| {
            let h = core::arch::x86_64::__cpuid_count(n, 0);
            cpuid::filter(n, 0, Regs { eax: h.eax, ebx: h.ebx, ecx: h.ecx, edx: h.edx }, &view)
        };
        cpuid::cr4_reserved(leaf(1), leaf(7))
    }

    fn xsetbv(&mut self, len: u8) {
        let (index, value) = (self.reg(1) as u32, (self.reg(2) << 32) | (self.reg(0) & 0xffff_ffff));
        let supported = core::arch::x86_64::__cpuid_count(0xd, 0);
        let allowed = (u64::from(supported.edx) << 32) | u64::from(supported.eax);
        // x87 on; AVX needs SSE (SDM Vol. 1 13.3).
        let valid = index == 0 && value & !allowed == 0 && value & 1 != 0 && (value & 4 == 0 || value & 2 != 0);
        if !valid {
            self.vendor.inject(Event::Exception(GP, Some(0)));
            return;
        }
        // SAFETY: XCR0 is the guest's (the hypervisor never uses XSAVE state) and the
        // value passed the architecture's own checks above.
        unsafe { core::arch::asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32) };
        self.skip(len);
    }

    /// An I/O instruction on a port the partition was not given.
    fn io(&mut self, port: u16, size: u8, input: bool, string: bool, len: u8) -> Option<VmExit> {
        if string {
            return Some(VmExit::Refused("string I/O to a port the hypervisor emulates"));
        }
        let value = self.reg(0) & (u64::MAX >> (64 - 8 * u32::from(size)));
        if let Some(exit) = self.power_port(port, input, value, len) {
            return exit;
        }
        self.pending = Pending::Access { len, reg: input.then_some(0), size, dest: size, sign: false };
        let write = (!input).then_some(value);
        Some(VmExit::Pio(PioAccess { port: IoPort::new(u64::from(port)), size, write }))
    }

    /// The ACPI PM and reset ports of doc/x86.md: `Some` when the access was one of
    /// them (`Some(None)`: emulated, go on).
    fn power_port(&mut self, port: u16, input: bool, value: u64, len: u8) -> Option<Option<VmExit>> {
        let request = match port {
            RESET_PORT if !input && value as u8 & RESET_VALUE == RESET_VALUE => Some(PowerRequest::SystemReset),
            PM1A_CNT if !input && value & (1 << 13) != 0 && (value >> 10) & 7 == u64::from(SLP_TYP_S5) => {
                Some(PowerRequest::SystemOff)
            }
            RESET_PORT | PM1A_CNT..=0x605 | PM1A_EVT..=0x603 => None,
            _ => return None,
        };
        if input {
            self.set_reg(0, self.reg(0) & !0xffff_ffff); // the PM registers read 0
        }
        self.skip(len);
        Some(request.map(VmExit::Power))
    }

    /// An access to guest-physical memory the nested tables do not map: an emulated
    /// device (decoded), or a fault.
    fn fault(&mut self, gpa: u64, write: bool, fetch: bool) -> VmExit {
        let gpa = GuestPhysAddr::new(gpa);
        let decoded = if fetch { None } else { guestmem::fetch_and_decode(self.part, &self.vendor) };
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
            self.reg(reg - 16) >> 8
        } else {
            self.reg(reg)
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
            let old = self.reg(n);
            self.set_reg(n, (old & !0xff00) | ((v & 0xff) << 8));
            return;
        }
        let old = self.reg(reg);
        let merged = match dest {
            1 => (old & !0xff) | (v & 0xff),
            2 => (old & !0xffff) | (v & 0xffff),
            4 => v & 0xffff_ffff, // a 32-bit destination clears the upper half
            _ => v,
        };
        self.set_reg(reg, merged);
    }
}

//! VMX instructions: VMXON, VMCS regions, VMREAD/VMWRITE over the width-typed fields of
//! `crate::vmcs` (SDM Vol. 3C chapters 24 "Introduction to VMX operation" and 31 "VMX
//! instruction reference").

use core::arch::asm;

use x86_64::registers::model_specific::Msr;

use crate::vmcs::{msr, F16, F32, F64, FN};

use super::super::Page;

/// Reads a VMX capability MSR.
pub fn cap(msr: u32) -> u64 {
    // SAFETY: the VMX capability MSRs exist whenever CPUID reports VMX, which `enable`
    // checks before anything reads them; reading them has no side effects.
    unsafe { Msr::new(msr).read() }
}

/// The VMCS revision identifier (IA32_VMX_BASIC[30:0]).
fn revision() -> u32 {
    cap(msr::BASIC) as u32 & 0x7fff_ffff
}

/// Whether the TRUE_* capability MSRs exist (IA32_VMX_BASIC[55]).
pub fn has_true_controls() -> bool {
    cap(msr::BASIC) & (1 << 55) != 0
}

/// Why VMX cannot be used on this CPU.
pub fn unsupported() -> Option<&'static str> {
    let leaf1 = core::arch::x86_64::__cpuid(1);
    if leaf1.ecx & (1 << 5) == 0 {
        return Some("the CPU has no VMX (CPUID.1:ECX.VMX = 0)");
    }
    let control = cap(msr::FEATURE_CONTROL);
    if control & 1 != 0 && control & (1 << 2) == 0 {
        return Some("the firmware locked VMX off (IA32_FEATURE_CONTROL)");
    }
    let secondary = cap(msr::PROCBASED2) >> 32;
    if secondary & u64::from(crate::vmcs::proc2::EPT | crate::vmcs::proc2::UNRESTRICTED_GUEST) == 0 {
        return Some("the CPU lacks EPT or unrestricted guests");
    }
    None
}

/// Enters VMX root operation on this CPU.
///
/// # Safety
/// Call once per CPU, after [`unsupported`] said nothing, with interrupts off.
pub unsafe fn enable() -> Result<(), &'static str> {
    let control = cap(msr::FEATURE_CONTROL);
    if control & 1 == 0 {
        // SAFETY: the firmware left the MSR unlocked; enable VMX outside SMX and lock.
        unsafe { Msr::new(msr::FEATURE_CONTROL).write(control | 1 | (1 << 2)) };
    }
    let fixed = |value: u64, f0: u32, f1: u32| (value | cap(f0)) & cap(f1);
    // SAFETY: CR0 and CR4 get the bits VMX operation requires (SDM Vol. 3D A.7, A.8):
    // NE, PE, PG are set already; VMXE is the one that changes. Nothing else moves.
    unsafe {
        let (cr0, cr4): (u64, u64);
        asm!("mov {}, cr0", "mov {}, cr4", out(reg) cr0, out(reg) cr4);
        let cr4 = fixed(cr4 | (1 << 13), msr::CR4_FIXED0, msr::CR4_FIXED1);
        let cr0 = fixed(cr0, msr::CR0_FIXED0, msr::CR0_FIXED1);
        asm!("mov cr0, {}", "mov cr4, {}", in(reg) cr0, in(reg) cr4);
    }
    let region = Page::leak();
    region.0[..4].copy_from_slice(&revision().to_le_bytes());
    let phys = region.phys();
    let ok: u8;
    // SAFETY: VMXON with a fresh region carrying the revision id; CR0/CR4 meet the fixed
    // bits; failure shows in CF.
    unsafe { asm!("vmxon [{}]", "setnc {}", in(reg) &phys, out(reg_byte) ok) };
    if ok == 0 {
        return Err("VMXON failed");
    }
    Ok(())
}

/// A fresh VMCS region with the revision id, cleared (`VMCLEAR`): launch state clear.
pub fn new_vmcs() -> Result<u64, &'static str> {
    let region = Page::leak();
    region.0[..4].copy_from_slice(&revision().to_le_bytes());
    let phys = region.phys();
    let ok: u8;
    // SAFETY: VMCLEAR of a region of our own, in VMX root operation.
    unsafe { asm!("vmclear [{}]", "seta {}", in(reg) &phys, out(reg_byte) ok) };
    if ok == 0 {
        return Err("VMCLEAR failed");
    }
    Ok(phys)
}

/// Makes `vmcs` this CPU's current VMCS.
///
/// # Safety
/// `vmcs` must come from [`new_vmcs`] and be current on no other CPU.
pub unsafe fn load(vmcs: u64) -> Result<(), &'static str> {
    let ok: u8;
    // SAFETY: the caller guarantees a valid VMCS region of ours.
    unsafe { asm!("vmptrld [{}]", "seta {}", in(reg) &vmcs, out(reg_byte) ok) };
    if ok == 0 {
        return Err("VMPTRLD failed");
    }
    Ok(())
}

fn write_raw(field: u32, value: u64) {
    // SAFETY: VMWRITE to the current VMCS, which this CPU loaded; a bad field fails
    // the instruction (VMfailValid) without other effects. The fields are from
    // crate::vmcs, each with its documented width.
    unsafe { asm!("vmwrite {}, {}", in(reg) u64::from(field), in(reg) value, options(nostack)) };
}

fn read_raw(field: u32) -> u64 {
    let value: u64;
    // SAFETY: VMREAD of the current VMCS; no side effects.
    unsafe { asm!("vmread {}, {}", out(reg) value, in(reg) u64::from(field), options(nostack)) };
    value
}

/// VMCS access for one width.
pub trait Field: Copy {
    /// The value type.
    type Value;
    /// Reads the field of the current VMCS.
    fn read(self) -> Self::Value;
    /// Writes the field of the current VMCS.
    fn write(self, value: Self::Value);
}

impl Field for F16 {
    type Value = u16;
    fn read(self) -> u16 {
        read_raw(self.0) as u16
    }
    fn write(self, value: u16) {
        write_raw(self.0, u64::from(value));
    }
}

impl Field for F32 {
    type Value = u32;
    fn read(self) -> u32 {
        read_raw(self.0) as u32
    }
    fn write(self, value: u32) {
        write_raw(self.0, u64::from(value));
    }
}

impl Field for F64 {
    type Value = u64;
    fn read(self) -> u64 {
        read_raw(self.0)
    }
    fn write(self, value: u64) {
        write_raw(self.0, value);
    }
}

impl Field for FN {
    type Value = u64;
    fn read(self) -> u64 {
        read_raw(self.0)
    }
    fn write(self, value: u64) {
        write_raw(self.0, value);
    }
}

/// Invalidates every EPT-derived translation (INVEPT all-context, type 2).
pub fn invept_all() {
    let descriptor = [0u64; 2];
    // SAFETY: INVEPT only drops cached translations.
    unsafe { asm!("invept {}, [{}]", in(reg) 2u64, in(reg) &descriptor, options(nostack)) };
}

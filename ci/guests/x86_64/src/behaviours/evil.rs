//! `test=evil`: instructions a partition must be able to try without killing itself or
//! the hypervisor: VMX instructions, CR4.VMXE, model-specific registers, the PMU, junk
//! hypercalls and an oversized console write. Each expected fault is caught by the
//! guest's own IDT and the instruction skipped (`attempt!`).

use core::fmt::Display;

use bulkhead_core::hypercall::{pack_bytes, CONSOLE_WRITE, INVALID_PARAMETERS, NOT_SUPPORTED};

use crate::idt::{attempt, mnemonic};
use crate::platform::Platform;
use crate::{cpu, hypercall, say};

/// #UD and #GP.
const UD: u8 = 6;
const GP: u8 = 13;
/// Function ids no one implements: junk, an SMC64 SiP id, Bulkhead's range + junk.
const JUNK_IDS: [u32; 3] = [0xdead_beef, 0xc500_0000, 0x8600_1234];
/// `(msr, value to write)`: IA32_FEATURE_CONTROL (lock + VMX outside SMX),
/// IA32_VMX_BASIC (read-only), and an MSR no CPU has.
const MSRS: [(u32, u64); 3] = [(FEATURE_CONTROL, 0x5), (0x480, 0), (0x1_2345, 0)];
/// IA32_FEATURE_CONTROL, its lock bit and its two VMX-enable bits (SDM Vol. 3C, 24.7).
const FEATURE_CONTROL: u32 = 0x3a;
const FC_LOCK: u64 = 1 << 0;
const FC_VMX: u64 = 0b110;
/// Exactly 40 bytes (five registers) so a truncating console prints one whole line.
const OVERSIZED_LINE: &[u8; 40] = b"evil console_write len=1000 -> 40 bytes\n";
/// The length CONSOLE_WRITE is told, far above `CONSOLE_WRITE_MAX`.
const OVERSIZED_LEN: u64 = 1000;

/// A zeroed, 4 KiB-aligned region for VMXON's operand and INVEPT's descriptor.
#[repr(C, align(4096))]
struct Page([u8; 4096]);
static REGION: Page = Page([0; 4096]);

/// Runs every attempt, then reports that the guest survived.
pub fn run(plat: &Platform) {
    let region = REGION.0.as_ptr();
    // Outside VMX operation (CR4.VMXE = 0) every VMX instruction is #UD (SDM Vol. 3C, 31).
    must_ud(
        "vmxon",
        attempt!("vmxon qword ptr [{p}]"; p = in(reg) region,),
    );
    must_ud(
        "vmread",
        attempt!("vmread {d}, {f}"; d = out(reg) _, f = in(reg) 0x4400u64,),
    );
    must_ud(
        "vmwrite",
        attempt!("vmwrite {f}, {v}"; f = in(reg) 0x681eu64, v = in(reg) 0u64,),
    );
    must_ud(
        "invept",
        attempt!("invept {t}, [{p}]"; t = in(reg) 2u64, p = in(reg) region,),
    );
    cr4_vmxe(plat);
    for (msr, value) in MSRS {
        rdmsr(plat, msr);
        wrmsr(plat, msr, value);
    }
    rdpmc(plat);
    for id in JUNK_IDS {
        junk_vmcall(plat, id);
    }
    oversized_console_write(plat);
    say!("PASS evil survived");
}

/// Prints `caught <#XX> <what>` for a fault; returns its vector.
fn caught(what: &dyn Display, r: Option<(u8, u64)>) -> Option<u8> {
    let (v, _) = r?;
    say!("caught {} {}", mnemonic(v), what);
    Some(v)
}

/// The attempt must raise #UD.
fn must_ud(what: &str, r: Option<(u8, u64)>) {
    match caught(&what, r) {
        Some(UD) => {}
        Some(v) => say!("FAIL evil {} raised {}, expected #UD", what, mnemonic(v)),
        None => say!("FAIL evil {} executed", what),
    }
}

/// `mov cr4` with VMXE: #GP, or silently not set; set is only right natively (a CPU with
/// VMX), and is undone.
fn cr4_vmxe(plat: &Platform) {
    if plat.native && !cpu::has_ecx1(5) {
        // QEMU 7.2 TCG loops forever on a reserved CR4 bit (it takes an SVM exit instead
        // of raising #GP); without VMX natively there is nothing to learn anyway.
        say!("SKIP evil cr4.vmxe native without vmx");
        return;
    }
    let before = cpu::cr4();
    let r = attempt!("mov cr4, {v}"; v = in(reg) before | cpu::CR4_VMXE,);
    match caught(&"mov cr4.vmxe", r) {
        Some(GP) => {}
        Some(v) => say!("FAIL evil cr4.vmxe raised {}", mnemonic(v)),
        None if cpu::cr4() & cpu::CR4_VMXE == 0 => say!("PASS evil cr4.vmxe silently not set"),
        None => {
            if plat.native {
                say!("evil cr4.vmxe set (native: this CPU has VMX), cleared again");
            } else {
                say!("FAIL evil cr4.vmxe set");
            }
            // SAFETY: clears VMXE again; nothing else changes (and VMXON never ran).
            unsafe { cpu::set_cr4(cpu::cr4() & !cpu::CR4_VMXE) };
        }
    }
}

/// RDMSR must raise #GP in a partition; natively it may read the CPU's value.
fn rdmsr(plat: &Platform, msr: u32) {
    let (lo, hi): (u32, u32);
    let r = attempt!("rdmsr"; in("ecx") msr, out("eax") lo, out("edx") hi,);
    let what = RdWr("rdmsr", msr);
    let v = u64::from(hi) << 32 | u64::from(lo);
    match caught(&what, r) {
        Some(GP) => {}
        Some(x) => say!("FAIL evil {} raised {}", what, mnemonic(x)),
        None if plat.native => say!("evil {} = {:#x} (native)", what, v),
        // IA32_FEATURE_CONTROL may be emulated (Linux reads it): locked, VMX off is fine.
        None if msr == FEATURE_CONTROL && v & FC_LOCK != 0 && v & FC_VMX == 0 => {
            say!("PASS evil {} reads {:#x}: locked, vmx off", what, v)
        }
        None => say!("FAIL evil {} returned {:#x}", what, v),
    }
}

/// WRMSR must raise #GP in a partition; natively it may be accepted.
fn wrmsr(plat: &Platform, msr: u32, value: u64) {
    let r =
        attempt!("wrmsr"; in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,);
    let what = RdWr("wrmsr", msr);
    match caught(&what, r) {
        Some(GP) => {}
        Some(x) => say!("FAIL evil {} raised {}", what, mnemonic(x)),
        None if plat.native => say!("evil {} {:#x} accepted (native)", what, value),
        None => say!("FAIL evil {} {:#x} accepted", what, value),
    }
}

/// RDPMC of counter 0: #GP or #UD in a partition (no PMU); natively it may count.
fn rdpmc(plat: &Platform) {
    let (lo, hi): (u32, u32);
    let r = attempt!("rdpmc"; in("ecx") 0u32, out("eax") lo, out("edx") hi,);
    let v = u64::from(hi) << 32 | u64::from(lo);
    match caught(&"rdpmc", r) {
        Some(GP | UD) => {}
        Some(x) => say!("FAIL evil rdpmc raised {}", mnemonic(x)),
        None if plat.native => say!("evil rdpmc 0 = {:#x} (native)", v),
        None => say!("FAIL evil rdpmc 0 returned {:#x}", v),
    }
}

/// A VMCALL with an unknown id must return NOT_SUPPORTED (natively: #UD).
fn junk_vmcall(plat: &Platform, id: u32) {
    let rax: u64;
    let r = attempt!("vmcall";
        inout("rax") u64::from(id) => rax, inout("rdi") 0u64 => _, inout("rsi") 0u64 => _,
        inout("rdx") 0u64 => _, inout("r10") 0u64 => _, inout("r8") 0u64 => _,
        inout("r9") 0u64 => _,);
    let what = RdWr("vmcall", id);
    match caught(&what, r) {
        Some(UD) if plat.native => {}
        Some(x) => say!("FAIL evil {} raised {}", what, mnemonic(x)),
        None => match hypercall::status(rax) {
            NOT_SUPPORTED => say!("PASS evil vmcall {:#x} not supported", id),
            s => say!("FAIL evil vmcall {:#x} returned {}", id, s),
        },
    }
}

/// CONSOLE_WRITE told 1000 bytes (it carries at most 40) must return INVALID_PARAMETERS.
fn oversized_console_write(plat: &Platform) {
    let mut regs = [0u64; 5];
    pack_bytes(OVERSIZED_LINE, &mut regs);
    let rax: u64;
    let r = attempt!("vmcall";
        inout("rax") u64::from(CONSOLE_WRITE) => rax, inout("rdi") OVERSIZED_LEN => _,
        inout("rsi") regs[0] => _, inout("rdx") regs[1] => _, inout("r10") regs[2] => _,
        inout("r8") regs[3] => _, inout("r9") regs[4] => _,);
    match caught(&"vmcall console_write", r) {
        Some(UD) if plat.native => {}
        Some(x) => say!("FAIL evil console_write raised {}", mnemonic(x)),
        None => match hypercall::status(rax) {
            INVALID_PARAMETERS => say!("PASS evil console_write len=1000 returned -2"),
            s => say!("FAIL evil console_write len=1000 returned {}", s),
        },
    }
}

/// `<insn> <hex id>` for messages.
struct RdWr(&'static str, u32);

impl Display for RdWr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {:#x}", self.0, self.1)
    }
}

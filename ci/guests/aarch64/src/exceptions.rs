//! EL1 exception vectors: IRQs go to the GIC, expected faults are skipped, others halt.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use crate::boot::cpu_index;
use crate::{gic, say, timer};

/// Bytes of the saved context: x0–x30, ELR, SPSR, pad, q0–q31, FPCR, FPSR.
const FRAME_SIZE: usize = 800;

/// Context saved by the vector stub; the handler may change `elr` to skip.
#[repr(C)]
pub struct Frame {
    /// x0–x30 at exception entry.
    pub x: [u64; 31],
    /// `ELR_EL1`: where the exception returns to.
    pub elr: u64,
    /// `SPSR_EL1` of the interrupted context.
    pub spsr: u64,
    _pad: u64,
    _fp: [u128; 32],
    _fpcr: u64,
    _fpsr: u64,
}

const _: () = assert!(core::mem::size_of::<Frame>() == FRAME_SIZE);

// 16 entries of 0x80 bytes, 2 KiB aligned (Arm ARM D1.10.2). Each stub reserves the
// frame, saves x0/x1 and passes its entry number to the common path.
global_asm!(
    r#"
    .macro ventry kind
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp]
    mov     x0, #\kind
    b       exception_common
    .endm

    .section .text.vectors, "ax"
    .balign 2048
    .global exception_vectors
exception_vectors:
    ventry 0
    ventry 1
    ventry 2
    ventry 3
    ventry 4
    ventry 5
    ventry 6
    ventry 7
    ventry 8
    ventry 9
    ventry 10
    ventry 11
    ventry 12
    ventry 13
    ventry 14
    ventry 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x30, x1, [sp, #240]
    str     x2, [sp, #256]
    add     x1, sp, #272
    stp     q0, q1, [x1, #0]
    stp     q2, q3, [x1, #32]
    stp     q4, q5, [x1, #64]
    stp     q6, q7, [x1, #96]
    stp     q8, q9, [x1, #128]
    stp     q10, q11, [x1, #160]
    stp     q12, q13, [x1, #192]
    stp     q14, q15, [x1, #224]
    stp     q16, q17, [x1, #256]
    stp     q18, q19, [x1, #288]
    stp     q20, q21, [x1, #320]
    stp     q22, q23, [x1, #352]
    stp     q24, q25, [x1, #384]
    stp     q26, q27, [x1, #416]
    stp     q28, q29, [x1, #448]
    stp     q30, q31, [x1, #480]
    mrs     x2, fpcr
    mrs     x3, fpsr
    str     x2, [sp, #784]
    str     x3, [sp, #792]
    mov     x1, sp
    bl      {handler}
    ldr     x2, [sp, #784]
    ldr     x3, [sp, #792]
    msr     fpcr, x2
    msr     fpsr, x3
    add     x1, sp, #272
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]
    ldp     x30, x1, [sp, #240]
    ldr     x2, [sp, #256]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
    handler = sym handle_exception,
);

/// Set by [`expect_fault`] to the caller's vCPU index + 1 (0: nobody): that vCPU's next
/// synchronous exception is skipped, not fatal.
static EXPECTING: AtomicUsize = AtomicUsize::new(0);
/// ESR of the last expected fault with [`ESR_MARK`] set, 0 if none was taken.
static CAUGHT_ESR: AtomicU64 = AtomicU64::new(0);
/// FAR_EL1 of the last expected fault.
static CAUGHT_FAR: AtomicU64 = AtomicU64::new(0);
/// Set in `CAUGHT_ESR` so that a caught ESR of 0 still reads as "caught"; ESR bit 63 is RES0.
const ESR_MARK: u64 = 1 << 63;

/// Exception class `ESR_ELx.EC` for "unknown reason" (UNDEFINED instructions).
pub const EC_UNKNOWN: u64 = 0;
/// Exception class of an instruction abort taken at EL1 from EL1.
pub const EC_IABT_CURRENT: u64 = 0x21;
/// Exception class of a data abort taken at EL1 from EL1.
pub const EC_DABT_CURRENT: u64 = 0x25;

/// `FAR_EL1` of the last fault [`expect_fault`] caught.
pub fn caught_far() -> u64 {
    CAUGHT_FAR.load(SeqCst)
}

/// Runs `f` with the next synchronous exception expected: if one is taken, its
/// instruction is skipped (an instruction abort returns to the link register instead:
/// the fetch came from a `blr`) and `Err(esr)` returned; otherwise `Ok(f())`.
pub fn expect_fault<R>(f: impl FnOnce() -> R) -> Result<R, u64> {
    CAUGHT_ESR.store(0, SeqCst);
    EXPECTING.store(cpu_index() + 1, SeqCst);
    let r = f();
    EXPECTING.store(0, SeqCst);
    match CAUGHT_ESR.swap(0, SeqCst) {
        0 => Ok(r),
        marked => Err(marked & !ESR_MARK),
    }
}

/// Entry point from `exception_common`: `kind` is the vector entry number (0–15).
extern "C" fn handle_exception(kind: u64, frame: &mut Frame) {
    match kind % 4 {
        1 => gic::handle_irq(),
        0 if EXPECTING
            .compare_exchange(cpu_index() + 1, 0, SeqCst, SeqCst)
            .is_ok() =>
        {
            let esr = read_esr();
            say!(
                "trap esr={:#x} elr={:#x} far={:#x} skipped",
                esr,
                frame.elr,
                read_far()
            );
            CAUGHT_FAR.store(read_far(), SeqCst);
            CAUGHT_ESR.store(esr | ESR_MARK, SeqCst);
            if esr_class(esr) == EC_IABT_CURRENT {
                frame.elr = frame.x[30]; // a deliberate fetch is a `blr`: back to its caller
            } else {
                frame.elr += 4; // every other deliberate attempt is one 4-byte instruction
            }
        }
        _ => fatal(kind, frame),
    }
}

/// Reports an exception nobody expected and parks this vCPU for good.
fn fatal(kind: u64, frame: &Frame) -> ! {
    const KINDS: [&str; 4] = ["sync", "irq", "fiq", "serror"];
    say!(
        "exception {} esr={:#x} elr={:#x} far={:#x}",
        KINDS[(kind % 4) as usize],
        read_esr(),
        frame.elr,
        read_far()
    );
    halt()
}

/// Stops this vCPU: timer off, interrupts masked, WFI forever.
pub fn halt() -> ! {
    say!("cpu {} halted", cpu_index());
    timer::stop();
    loop {
        // SAFETY: masks interrupts and waits; this vCPU does nothing else from here on.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}

/// The exception class `ESR_ELx.EC` (bits 31:26).
pub fn esr_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

fn read_esr() -> u64 {
    let v: u64;
    // SAFETY: reads ESR_EL1; no side effects.
    unsafe { asm!("mrs {}, esr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn read_far() -> u64 {
    let v: u64;
    // SAFETY: reads FAR_EL1; no side effects.
    unsafe { asm!("mrs {}, far_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

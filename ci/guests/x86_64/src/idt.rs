//! The IDT: all 32 exceptions report and stop their CPU (or are skipped when expected),
//! the timer, test IPIs and (while its test runs) COM2 go to their handlers, anything
//! else is reported.

use core::arch::{asm, global_asm};
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::boot::{cpu_index, MAX_CPUS};
use crate::{apic, behaviours, cpu, say, timer};

/// The heartbeat's vector (x2APIC timer).
pub const TIMER_VECTOR: u8 = 0x40;
/// First of the vectors `test=ipi-foreign` sends.
pub const IPI_BASE: u8 = 0x50;
/// How many IPI test vectors there are.
pub const IPI_COUNT: u8 = 16;
/// The vector `test=com2-irq` routes COM2's pin to (and `test=ioapic-listen` its pin).
pub const COM2_VECTOR: u8 = 0x60;
/// The local APIC's spurious vector (needs no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Exceptions that run on the IST stack: NMI, #DF, #MC.
const IST_VECTORS: [usize; 3] = [2, 8, 18];

global_asm!(include_str!("isr.s"), dispatch = sym dispatch, options(att_syntax));

extern "C" {
    static isr_stubs: u8;
}

/// What the stubs in isr.s leave on the stack.
#[repr(C)]
pub struct Frame {
    /// r15 down to rax, as pushed by `isr_common`.
    pub gpr: [u64; 15],
    /// The vector (pushed by the stub).
    pub vector: u64,
    /// The CPU's error code, or 0.
    pub err: u64,
    /// Where the interrupted code resumes.
    pub rip: u64,
    /// The rest of the hardware frame: CS, RFLAGS, RSP, SS.
    pub cs_rflags_rsp_ss: [u64; 4],
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate([u64; 2]);

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate([0; 2]); 256]);

/// Fills the IDT (once, on vCPU 0).
pub fn init() {
    let base = addr_of!(isr_stubs) as u64;
    for v in 0..256usize {
        let at = base + 16 * v as u64;
        let ist: u64 = if IST_VECTORS.contains(&v) { 1 } else { 0 };
        let low = (at & 0xffff)
            | 0x08 << 16 // the 64-bit code selector
            | ist << 32
            | 0x8e << 40 // present, DPL 0, 64-bit interrupt gate
            | (at >> 16 & 0xffff) << 48;
        // SAFETY: vCPU 0 fills the table before any CPU loads it.
        unsafe { addr_of_mut!(IDT.0[v]).write(Gate([low, at >> 32])) };
    }
}

/// Loads the IDT on this CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let base = addr_of!(IDT) as u64;
    let idtr = Idtr {
        limit: 256 * 16 - 1,
        base,
    };
    // SAFETY: the IDT is filled (init) and lives forever.
    unsafe { asm!("lidt [{}]", in(reg) &idtr, options(readonly, nostack, preserves_flags)) };
}

/// An armed expectation: the fault at `start` resumes at `end` (`end - start` is the
/// instruction's length, taken from the labels around it). `caught` = vector + 1.
pub struct Expect {
    start: AtomicU64,
    end: AtomicU64,
    caught: AtomicU64,
    err: AtomicU64,
}

/// Each CPU's expectation (only that CPU writes its own).
static EXPECT: [Expect; MAX_CPUS + 1] = [const {
    Expect {
        start: AtomicU64::new(0),
        end: AtomicU64::new(0),
        caught: AtomicU64::new(0),
        err: AtomicU64::new(0),
    }
}; MAX_CPUS + 1];

/// Arms the calling CPU's expectation; returns where the attempt's asm stores its start
/// and end addresses (two consecutive u64: `Expect` is `start` then `end`).
pub fn arm() -> *mut u64 {
    let e = &EXPECT[cpu_index()];
    e.caught.store(0, SeqCst);
    e.end.store(0, SeqCst);
    e.start.as_ptr()
}

/// Disarms; `Some((vector, error code))` if the attempt faulted and was skipped.
pub fn disarm() -> Option<(u8, u64)> {
    let e = &EXPECT[cpu_index()];
    e.start.store(0, SeqCst);
    match e.caught.swap(0, SeqCst) {
        0 => None,
        v => Some(((v - 1) as u8, e.err.load(SeqCst))),
    }
}

/// Runs one instruction (a string literal) with a fault expected: the handler skips it.
/// Extra asm operands follow a `;`, each ending in a comma. Returns `Option<(vector,
/// err)>`. Only r11 is used by the wrapper.
macro_rules! attempt {
    ($insn:literal; $($ops:tt)*) => {{
        let slot = $crate::idt::arm();
        // SAFETY: the caller's instruction is deliberate; a fault it raises is skipped by
        // the handler (resuming at label 9), which leaves every register as it was.
        unsafe {
            core::arch::asm!(
                "lea r11, [rip + 8f]",
                "mov [{slot}], r11",
                "lea r11, [rip + 9f]",
                "mov [{slot} + 8], r11",
                "8:",
                $insn,
                "9:",
                slot = in(reg) slot,
                out("r11") _,
                $($ops)*
            )
        };
        $crate::idt::disarm()
    }};
}
pub(crate) use attempt;

/// Mnemonic of exception `v` (SDM Vol. 3A, Table 6-1).
pub fn mnemonic(v: u8) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP", "#SS",
        "#GP", "#PF", "#R15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#R22", "#R23", "#R24",
        "#R25", "#R26", "#R27", "#HV", "#VC", "#SX", "#R31",
    ];
    NAMES.get(usize::from(v)).copied().unwrap_or("#?")
}

/// Entry from `isr_common`.
extern "C" fn dispatch(frame: &mut Frame) {
    let v = frame.vector as u8;
    match v {
        0..=31 => exception(frame),
        TIMER_VECTOR => {
            timer::on_tick();
            apic::eoi();
        }
        SPURIOUS_VECTOR => {}
        COM2_VECTOR if behaviours::com2::armed() => behaviours::com2::on_irq(),
        v if (IPI_BASE..IPI_BASE + IPI_COUNT).contains(&v) => {
            behaviours::ipi::on_ipi(v - IPI_BASE);
            apic::eoi();
        }
        v => {
            say!("FAIL unexpected interrupt {:#x}", v);
            apic::eoi();
        }
    }
}

fn exception(frame: &mut Frame) {
    let e = &EXPECT[cpu_index()];
    let start = e.start.load(SeqCst);
    if start != 0 && start == frame.rip && e.end.load(SeqCst) > start {
        e.err.store(frame.err, SeqCst);
        e.caught.store(frame.vector + 1, SeqCst);
        frame.rip = e.end.load(SeqCst);
        return;
    }
    if frame.vector == 14 {
        say!(
            "exception 14 rip={:#x} err={:#x} cr2={:#x}",
            frame.rip,
            frame.err,
            cpu::cr2()
        );
    } else {
        say!(
            "exception {} rip={:#x} err={:#x}",
            frame.vector,
            frame.rip,
            frame.err
        );
    }
    halt()
}

/// Stops this CPU: its timer off, interrupts masked, HLT forever.
pub fn halt() -> ! {
    say!("cpu {} halted", cpu_index());
    apic::timer_stop();
    cpu::stop()
}

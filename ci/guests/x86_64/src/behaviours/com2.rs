//! `test=com2-irq`: a passthrough 16550 (COM2, ports 0x2f8..0x2ff, I/O APIC pin 3) and
//! its interrupt, driven the way a driver would: the UART through its own ports (passed
//! through, so no exits), the partition's virtual I/O APIC (pin 3 to [`COM2_VECTOR`],
//! edge, or level with `trigger=level`, physical destination = this CPU's x2APIC id) and
//! the x2APIC; the transmitter-empty interrupt (IER bit 1) fires once when enabled and
//! once per byte written.
//!
//! `test=ioapic-listen`: a neighbour programs `pin=` (3) of its own virtual I/O APIC to
//! the same vector, unmasked, and keeps beating: the pin belongs to no device of its
//! own, so nothing may ever arrive (an arrival prints `FAIL unexpected interrupt`).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use crate::args::Args;
use crate::idt::COM2_VECTOR;
use crate::platform::Platform;
use crate::{apic, cpu, say, timer};

/// COM2's ports and its I/O APIC pin (ISA IRQ 3, GSI 3: the board's platform.dts).
const COM2: u16 = 0x2f8;
const COM2_PIN: u32 = 3;
/// 16550 registers (offsets from the base; DLL/DLM with LCR.DLAB set).
const THR: u16 = 0;
const IER: u16 = 1;
const IIR: u16 = 2;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCR: u16 = 7;
/// IER: transmitter holding register empty.
const IER_THRE: u8 = 1 << 1;
/// LCR: divisor latch access; 8N1.
const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
/// MCR: DTR, RTS and OUT2 (on a PC, OUT2 gates the UART's interrupt line).
const MCR_DTR_RTS_OUT2: u8 = 0x0b;
/// IIR: bit 0 clear = an interrupt is pending; bits 3:1 its cause.
const IIR_NONE: u8 = 1;
const IIR_THRE: u8 = 0b001;
const IIR_RX: u8 = 0b010;
const IIR_LINE: u8 = 0b011;
const IIR_RX_TIMEOUT: u8 = 0b110;

/// The partition's I/O APIC (doc/x86.md): IOREGSEL, IOWIN.
const IOAPIC: u64 = 0xfec0_0000;
const IOREGSEL: u64 = IOAPIC;
const IOWIN: u64 = IOAPIC + 0x10;
/// IOAPIC version register (max redirection entry in bits 23:16) and the first RTE.
const IOAPIC_VER: u32 = 0x01;
const IOAPIC_RTE0: u32 = 0x10;
/// RTE mask and level-triggered bits.
const RTE_MASKED: u32 = 1 << 16;
const RTE_LEVEL: u32 = 1 << 15;

/// Bytes written to COM2, each waited for.
const BYTES: u64 = 8;
/// How long one interrupt may take to arrive.
const IRQ_TIMEOUT_MS: u64 = 100;
/// How long after IER = 0 a stray interrupt gets to show itself.
const SETTLE_MS: u64 = 20;

/// Whether the handler counts [`COM2_VECTOR`] (else it is unexpected).
static ARMED: AtomicBool = AtomicBool::new(false);
/// Interrupts taken on [`COM2_VECTOR`].
static IRQS: AtomicU64 = AtomicU64::new(0);
/// ... of which IIR said transmitter empty.
static THRE: AtomicU64 = AtomicU64::new(0);
/// ... of which IIR said nothing was pending.
static NO_CAUSE: AtomicU64 = AtomicU64::new(0);

/// Whether [`COM2_VECTOR`] is expected now (test=com2-irq running on this partition).
pub fn armed() -> bool {
    ARMED.load(SeqCst)
}

/// The COM2 interrupt: reads IIR until nothing is pending (reading IIR acknowledges the
/// transmitter-empty cause; LSR, RBR and MSR the others), then EOI to the x2APIC (an
/// edge pin needs no I/O APIC EOI).
pub fn on_irq() {
    IRQS.fetch_add(1, SeqCst);
    let mut causes = 0;
    for _ in 0..8 {
        let iir = cpu::inb(COM2 + IIR);
        if iir & IIR_NONE != 0 {
            break;
        }
        causes += 1;
        match (iir >> 1) & 0b111 {
            IIR_THRE => {
                THRE.fetch_add(1, SeqCst);
            }
            IIR_LINE => drop(cpu::inb(COM2 + LSR)),
            IIR_RX | IIR_RX_TIMEOUT => drop(cpu::inb(COM2 + THR)),
            _ => drop(cpu::inb(COM2 + MSR)),
        }
    }
    if causes == 0 {
        NO_CAUSE.fetch_add(1, SeqCst);
    }
    apic::eoi();
}

/// Writes register `reg` of the partition's I/O APIC.
fn ioapic_write(reg: u32, v: u32) {
    // SAFETY: the I/O APIC window is mapped (uncached) by the boot tables; in a partition
    // it is the virtual I/O APIC (32-bit accesses), natively the machine's.
    unsafe {
        (IOREGSEL as *mut u32).write_volatile(reg);
        (IOWIN as *mut u32).write_volatile(v);
    }
}

/// Reads register `reg` of the partition's I/O APIC.
fn ioapic_read(reg: u32) -> u32 {
    // SAFETY: as in ioapic_write.
    unsafe {
        (IOREGSEL as *mut u32).write_volatile(reg);
        (IOWIN as *const u32).read_volatile()
    }
}

/// Routes `pin` to `vector` on this CPU (edge or level, active high, fixed, physical),
/// unmasked; `Err` with what it read back if the entry did not take.
fn route_pin(pin: u32, vector: u8, level: bool) -> Result<(), (u32, u32)> {
    let trigger = if level { RTE_LEVEL } else { 0 };
    let (low, high) = (u32::from(vector) | trigger, apic::id() << 24);
    ioapic_write(IOAPIC_RTE0 + 2 * pin + 1, high);
    ioapic_write(IOAPIC_RTE0 + 2 * pin, low);
    let back = (
        ioapic_read(IOAPIC_RTE0 + 2 * pin),
        ioapic_read(IOAPIC_RTE0 + 2 * pin + 1),
    );
    // Delivery status (bit 12) and remote IRR (bit 14) are the I/O APIC's.
    if (back.0 & !(1 << 12 | 1 << 14), back.1) == (low, high) {
        Ok(())
    } else {
        Err(back)
    }
}

/// Masks `pin` again.
fn mask_pin(pin: u32) {
    ioapic_write(IOAPIC_RTE0 + 2 * pin, RTE_MASKED | u32::from(COM2_VECTOR));
}

/// Waits (interrupts on) until more than `n` interrupts were taken; false on timeout.
fn wait_irqs(n: u64, ms: u64) -> bool {
    let t0 = cpu::rdtsc();
    let ticks = timer::tsc_khz() * ms;
    while IRQS.load(SeqCst) <= n {
        if cpu::rdtsc().wrapping_sub(t0) >= ticks {
            return false;
        }
        cpu::pause();
    }
    true
}

/// `test=com2-irq`, after `after` heartbeats.
pub fn run(plat: &Platform, args: &Args) {
    timer::wait_beats(args.after);
    if plat.native {
        // Natively the 8259s are masked but the I/O APIC is the machine's: it works the
        // same way, as long as the firmware left the pin alone.
        say!("com2-irq native");
    }
    // The UART: 115200 8N1, FIFOs off (one transmitter-empty interrupt per byte),
    // interrupts off until the I/O APIC is ready, OUT2 on.
    let out = |reg: u16, v: u8| cpu::outb(COM2 + reg, v);
    out(IER, 0);
    out(LCR, LCR_DLAB);
    out(THR, 1);
    out(IER, 0);
    out(LCR, LCR_8N1);
    out(FCR, 0);
    out(MCR, MCR_DTR_RTS_OUT2);
    out(SCR, 0x5a);
    let scratch = cpu::inb(COM2 + SCR);
    for reg in [LSR, THR, IIR, MSR] {
        let _ = cpu::inb(COM2 + reg);
    }
    let lsr = cpu::inb(COM2 + LSR);
    if scratch != 0x5a || lsr & 0x60 != 0x60 {
        say!(
            "FAIL com2 is not a 16550 here: scratch {:#x} (wrote 0x5a), lsr {:#x}",
            scratch,
            lsr
        );
        return;
    }
    let version = ioapic_read(IOAPIC_VER);
    if (version >> 16) & 0xff < COM2_PIN {
        say!(
            "FAIL com2 ioapic version {:#x}: no pin {}",
            version,
            COM2_PIN
        );
        return;
    }
    ARMED.store(true, SeqCst);
    if let Err((low, high)) = route_pin(COM2_PIN, COM2_VECTOR, args.level) {
        say!(
            "FAIL com2 ioapic pin {} reads back {:#x} {:#x}",
            COM2_PIN,
            low,
            high
        );
        return;
    }
    say!(
        "com2 pin {} vector {:#x} dest {} {} ioapic version {:#x}",
        COM2_PIN,
        COM2_VECTOR,
        apic::id(),
        if args.level { "level" } else { "edge" },
        version
    );
    // THR is empty: enabling its interrupt raises one at once.
    out(IER, IER_THRE);
    let mut missing = None;
    if !wait_irqs(0, IRQ_TIMEOUT_MS) {
        missing = Some(0);
    }
    for i in 1..=BYTES {
        if missing.is_some() {
            break;
        }
        let before = IRQS.load(SeqCst);
        out(THR, b'0' + i as u8);
        if !wait_irqs(before, IRQ_TIMEOUT_MS) {
            missing = Some(i);
        }
    }
    out(IER, 0);
    timer::delay_ms(SETTLE_MS);
    mask_pin(COM2_PIN);
    // From now on an interrupt on the vector is unexpected again.
    ARMED.store(false, SeqCst);
    let (n, thre, none) = (IRQS.load(SeqCst), THRE.load(SeqCst), NO_CAUSE.load(SeqCst));
    say!(
        "com2 irq {} interrupts ({} transmitter empty, {} without cause) for {} bytes",
        n,
        thre,
        none,
        BYTES
    );
    match missing {
        Some(0) => say!(
            "FAIL com2 irq {}: none within {} ms of enabling IER.THRE",
            n,
            IRQ_TIMEOUT_MS
        ),
        Some(i) => say!(
            "FAIL com2 irq {}: none within {} ms of byte {}",
            n,
            IRQ_TIMEOUT_MS,
            i
        ),
        None if thre < BYTES => say!("FAIL com2 irq {}: only {} transmitter empty", n, thre),
        None => say!("PASS com2 irq {}", n),
    }
}

/// `test=ioapic-listen`: routes `pin=` of this partition's I/O APIC to [`COM2_VECTOR`] on
/// this CPU, unmasked, and leaves [`on_irq`] disarmed: any arrival is unexpected.
pub fn listen(args: &Args) {
    let pin = args.pin;
    match route_pin(pin, COM2_VECTOR, false) {
        Ok(()) => say!(
            "ioapic-listen pin {} vector {:#x} dest {} unmasked",
            pin,
            COM2_VECTOR,
            apic::id()
        ),
        Err((low, high)) => say!(
            "FAIL ioapic-listen pin {} reads back {:#x} {:#x}",
            pin,
            low,
            high
        ),
    }
}

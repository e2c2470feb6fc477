//! The virtual local APIC of one vCPU, in x2APIC mode (Intel SDM Vol. 3A chapter 11,
//! "Advanced Programmable Interrupt Controller (APIC)"; 11.12 "Extended XAPIC (x2APIC)").
//!
//! Registers are the x2APIC MSRs 0x800..0x8ff plus IA32_TSC_DEADLINE. The model is pure:
//! time comes in as a TSC value, IPIs go out as [`Effect`]s for the runtime to deliver
//! (only to the partition's own vCPUs), and interrupts from elsewhere (other vCPUs,
//! devices, doorbells) arrive through the vCPU's lock-free [`Inbox`]. The APIC timer's
//! input clock is the TSC (CPUID leaf 0x15 tells the guest so).

use core::sync::atomic::{AtomicU32, Ordering};

/// The x2APIC MSR range.
pub const MSR_FIRST: u32 = 0x800;
/// Last x2APIC MSR.
pub const MSR_LAST: u32 = 0x8ff;
/// IA32_TSC_DEADLINE.
pub const MSR_TSC_DEADLINE: u32 = 0x6e0;

const ID: u32 = 0x802;
const VERSION: u32 = 0x803;
const TPR: u32 = 0x808;
const PPR: u32 = 0x80a;
const EOI: u32 = 0x80b;
const LDR: u32 = 0x80d;
const SVR: u32 = 0x80f;
const ISR0: u32 = 0x810;
const TMR0: u32 = 0x818;
const IRR0: u32 = 0x820;
const ESR: u32 = 0x828;
const LVT_CMCI: u32 = 0x82f;
const ICR: u32 = 0x830;
/// LVT timer; thermal, PMC, LINT0, LINT1 follow at 0x833..0x836.
const LVT_TIMER: u32 = 0x832;
const LVT_ERROR: u32 = 0x837;
const TIMER_INITIAL: u32 = 0x838;
const TIMER_CURRENT: u32 = 0x839;
const TIMER_DIVIDE: u32 = 0x83e;
const SELF_IPI: u32 = 0x83f;

/// x2APIC version register: version 0x14, six LVT entries (max LVT 5), no EOI broadcast
/// suppression.
const VERSION_VALUE: u64 = 0x0005_0014;
const LVT_MASKED: u32 = 1 << 16;
const SVR_ENABLE: u32 = 1 << 8;
/// LVT timer mode, bits 18:17.
const TIMER_PERIODIC: u32 = 1 << 17;
const TIMER_TSC_DEADLINE: u32 = 2 << 17;
const TIMER_MODE: u32 = 3 << 17;

/// A register the x2APIC does not have, or a write to a read-only one: #GP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gp;

/// ICR destination shorthand (bits 19:18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The destination field: one x2APIC id, or (logical mode) a cluster and bitmap.
    Id {
        /// The destination field.
        id: u32,
        /// Logical destination mode.
        logical: bool,
    },
    /// The sender only.
    SelfOnly,
    /// Every vCPU of the partition.
    All,
    /// Every vCPU but the sender.
    AllButSelf,
}

/// What an IPI delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A fixed interrupt with this vector.
    Fixed(u8),
    /// An NMI.
    Nmi,
    /// INIT.
    Init,
    /// Start-up with this vector (the AP starts at `vector << 12`).
    Startup(u8),
}

/// What a register write asks of the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the model.
    None,
    /// Send an IPI.
    Ipi(Dest, Delivery),
    /// The timer changed: reprogram the physical deadline.
    Timer,
    /// The guest ended a level-triggered `vector`: tell the I/O APIC.
    LevelEoi(u8),
}

/// Interrupts posted to a vCPU from another CPU: 256 vectors, set by anyone, drained by
/// the vCPU's own CPU before it enters the guest.
pub struct Inbox {
    words: [AtomicU32; 8],
    /// Which posted vectors are level-triggered (their TMR bit is set on merge).
    level: [AtomicU32; 8],
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    /// Empty.
    pub const fn new() -> Self {
        Self { words: [const { AtomicU32::new(0) }; 8], level: [const { AtomicU32::new(0) }; 8] }
    }

    /// Posts `vector` (`level`-triggered or not); returns whether it was not posted
    /// already.
    pub fn post(&self, vector: u8, level: bool) -> bool {
        let (w, bit) = (usize::from(vector / 32), 1 << (vector % 32));
        if level {
            self.level[w].fetch_or(bit, Ordering::AcqRel);
        }
        self.words[w].fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// Whether nothing is posted.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| w.load(Ordering::Acquire) == 0)
    }

    /// Takes everything posted: the vectors, and which of them are level-triggered
    /// (a level bit whose vector is posted later stays for that post).
    pub fn take(&self) -> ([u32; 8], [u32; 8]) {
        let words: [u32; 8] = core::array::from_fn(|i| self.words[i].swap(0, Ordering::AcqRel));
        let level = core::array::from_fn(|i| self.level[i].fetch_and(!words[i], Ordering::AcqRel) & words[i]);
        (words, level)
    }
}

/// One vCPU's local APIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VLapic {
    id: u32,
    tpr: u32,
    svr: u32,
    esr: u32,
    irr: [u32; 8],
    isr: [u32; 8],
    tmr: [u32; 8],
    /// LVT CMCI, timer, thermal, PMC, LINT0, LINT1, error.
    lvt: [u32; 7],
    timer_initial: u32,
    timer_divide: u32,
    /// When the timer fires next (TSC), if armed.
    deadline: Option<u64>,
    /// Periodic mode: TSC ticks per period.
    period: u64,
    /// One-shot / periodic: when the count was (re)started, for the current count.
    started: u64,
}

fn lvt_index(msr: u32) -> Option<usize> {
    match msr {
        LVT_CMCI => Some(0),
        LVT_TIMER..=LVT_ERROR => Some((msr - LVT_TIMER) as usize + 1),
        _ => None,
    }
}

fn bit_set(bits: &mut [u32; 8], v: u8, on: bool) {
    let (w, b) = (usize::from(v / 32), 1u32 << (v % 32));
    if on {
        bits[w] |= b;
    } else {
        bits[w] &= !b;
    }
}

fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8).rev().find(|&w| bits[w] != 0).map(|w| (w as u32 * 32 + 31 - bits[w].leading_zeros()) as u8)
}

impl VLapic {
    /// The APIC of vCPU `id` after reset: software-disabled, every LVT masked.
    pub fn new(id: u32) -> Self {
        Self {
            id,
            tpr: 0,
            svr: 0xff,
            esr: 0,
            irr: [0; 8],
            isr: [0; 8],
            tmr: [0; 8],
            lvt: [LVT_MASKED; 7],
            timer_initial: 0,
            timer_divide: 0,
            deadline: None,
            period: 0,
            started: 0,
        }
    }

    /// The x2APIC id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// When the physical timer must fire for this vCPU, if its timer is armed.
    pub fn deadline(&self) -> Option<u64> {
        self.deadline
    }

    fn lvt_timer(&self) -> u32 {
        self.lvt[1]
    }

    /// TSC ticks per APIC timer tick, from the divide configuration (SDM 11.5.4).
    fn divisor(&self) -> u64 {
        let d = self.timer_divide;
        match (d & 3) | ((d >> 1) & 4) {
            7 => 1,
            n => 2 << n,
        }
    }

    /// Processor priority: the higher of TPR and the highest in-service class.
    fn ppr(&self) -> u32 {
        let isr = highest(&self.isr).map_or(0, |v| u32::from(v) & 0xf0);
        if self.tpr & 0xf0 >= isr {
            self.tpr & 0xff
        } else {
            isr
        }
    }

    /// Reads an x2APIC register at time `now`.
    pub fn read(&self, msr: u32, now: u64) -> Result<u64, Gp> {
        let v = match msr {
            ID => u64::from(self.id),
            VERSION => VERSION_VALUE,
            TPR => u64::from(self.tpr),
            PPR => u64::from(self.ppr()),
            LDR => u64::from(((self.id >> 4) << 16) | (1 << (self.id & 0xf))),
            SVR => u64::from(self.svr),
            ISR0..=0x817 => u64::from(self.isr[(msr - ISR0) as usize]),
            TMR0..=0x81f => u64::from(self.tmr[(msr - TMR0) as usize]),
            IRR0..=0x827 => u64::from(self.irr[(msr - IRR0) as usize]),
            ESR => u64::from(self.esr),
            ICR => 0,
            TIMER_INITIAL => u64::from(self.timer_initial),
            TIMER_CURRENT => self.current_count(now),
            TIMER_DIVIDE => u64::from(self.timer_divide),
            MSR_TSC_DEADLINE => match (self.lvt_timer() & TIMER_MODE, self.deadline) {
                (TIMER_TSC_DEADLINE, Some(d)) => d,
                _ => 0,
            },
            _ => match lvt_index(msr) {
                Some(i) => u64::from(self.lvt[i]),
                None => return Err(Gp),
            },
        };
        Ok(v)
    }

    fn current_count(&self, now: u64) -> u64 {
        match (self.lvt_timer() & TIMER_MODE, self.deadline) {
            (TIMER_TSC_DEADLINE, _) | (_, None) => 0,
            (_, Some(d)) => d.saturating_sub(now) / self.divisor(),
        }
    }

    /// Writes an x2APIC register at time `now`.
    pub fn write(&mut self, msr: u32, value: u64, now: u64) -> Result<Effect, Gp> {
        let low = value as u32;
        match msr {
            TPR => self.tpr = low & 0xff,
            EOI => return Ok(self.eoi()),
            SVR => {
                self.svr = low & 0x11ff;
                if self.svr & SVR_ENABLE == 0 {
                    self.lvt.iter_mut().for_each(|l| *l |= LVT_MASKED);
                }
            }
            ESR => self.esr = 0,
            ICR => return Ok(icr(value)),
            SELF_IPI => return Ok(Effect::Ipi(Dest::SelfOnly, Delivery::Fixed(low as u8))),
            TIMER_INITIAL => {
                self.timer_initial = low;
                self.arm_count(now);
                return Ok(Effect::Timer);
            }
            TIMER_DIVIDE => self.timer_divide = low & 0xb,
            MSR_TSC_DEADLINE => {
                if self.lvt_timer() & TIMER_MODE == TIMER_TSC_DEADLINE {
                    self.deadline = (value != 0).then_some(value);
                }
                return Ok(Effect::Timer);
            }
            _ => {
                let Some(i) = lvt_index(msr) else { return Err(Gp) };
                let mask = if self.svr & SVR_ENABLE == 0 { LVT_MASKED } else { 0 };
                let old_mode = self.lvt_timer() & TIMER_MODE;
                self.lvt[i] = (low & 0x0007_17ff) | mask;
                if i == 1 && self.lvt_timer() & TIMER_MODE != old_mode {
                    self.deadline = None; // a mode switch disarms (SDM 11.5.4.1)
                    self.timer_initial = 0;
                    return Ok(Effect::Timer);
                }
            }
        }
        Ok(Effect::None)
    }

    /// One-shot or periodic count started at `now`.
    fn arm_count(&mut self, now: u64) {
        if self.lvt_timer() & TIMER_MODE == TIMER_TSC_DEADLINE {
            return;
        }
        self.started = now;
        self.period = u64::from(self.timer_initial) * self.divisor();
        self.deadline = (self.timer_initial != 0).then(|| now.saturating_add(self.period));
    }

    /// The timer's deadline passed at `now`: raise its interrupt, re-arm a periodic one.
    pub fn expire(&mut self, now: u64) {
        let Some(d) = self.deadline.filter(|&d| d <= now) else { return };
        let lvt = self.lvt_timer();
        if lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
        self.deadline = match lvt & TIMER_MODE {
            TIMER_PERIODIC if self.period > 0 => {
                let missed = (now - d) / self.period;
                Some(d + (missed + 1) * self.period)
            }
            _ => None,
        };
    }

    /// An interrupt arrives (IPI, device, doorbell): into the IRR, with its trigger mode.
    pub fn accept(&mut self, vector: u8, level: bool) {
        if vector < 16 {
            self.esr |= 1 << 6; // received illegal vector
            return;
        }
        bit_set(&mut self.irr, vector, true);
        bit_set(&mut self.tmr, vector, level);
    }

    /// Merges what other CPUs posted.
    pub fn merge(&mut self, inbox: &Inbox) {
        if inbox.is_empty() {
            return;
        }
        let (words, level) = inbox.take();
        for w in 0..8 {
            let legal = if w == 0 { 0xffff_0000 } else { u32::MAX };
            self.irr[w] |= words[w] & legal;
            self.tmr[w] = (self.tmr[w] & !(words[w] & legal)) | (level[w] & legal);
        }
    }

    /// The vector to inject now, if one beats the processor priority.
    pub fn pending(&self) -> Option<u8> {
        if self.svr & SVR_ENABLE == 0 {
            return None;
        }
        highest(&self.irr).filter(|&v| u32::from(v) & 0xf0 > self.ppr() & 0xf0)
    }

    /// `vector` was injected: from IRR to ISR.
    pub fn ack(&mut self, vector: u8) {
        bit_set(&mut self.irr, vector, false);
        bit_set(&mut self.isr, vector, true);
    }

    fn eoi(&mut self) -> Effect {
        let Some(v) = highest(&self.isr) else { return Effect::None };
        bit_set(&mut self.isr, v, false);
        let (w, b) = (usize::from(v / 32), 1u32 << (v % 32));
        if self.tmr[w] & b != 0 {
            self.tmr[w] &= !b;
            return Effect::LevelEoi(v);
        }
        Effect::None
    }
}

/// Decodes an ICR write (x2APIC: one 64-bit MSR, destination in bits 63:32).
fn icr(value: u64) -> Effect {
    let low = value as u32;
    let vector = low as u8;
    let delivery = match (low >> 8) & 7 {
        0 | 1 => Delivery::Fixed(vector), // fixed; lowest priority treated as fixed
        4 => Delivery::Nmi,
        5 if low & (1 << 14) == 0 && low & (1 << 15) != 0 => return Effect::None, // INIT level de-assert
        5 => Delivery::Init,
        6 => Delivery::Startup(vector),
        _ => return Effect::None, // SMI and reserved modes: dropped
    };
    let dest = match (low >> 18) & 3 {
        0 => Dest::Id { id: (value >> 32) as u32, logical: low & (1 << 11) != 0 },
        1 => Dest::SelfOnly,
        2 => Dest::All,
        _ => Dest::AllButSelf,
    };
    Effect::Ipi(dest, delivery)
}

/// Whether vCPU `vcpu` (x2APIC id = index) matches `dest` sent by vCPU `sender`.
pub fn matches(dest: Dest, sender: u32, vcpu: u32) -> bool {
    match dest {
        Dest::Id { id, logical: false } => id == vcpu,
        Dest::Id { id, logical: true } => id >> 16 == vcpu >> 4 && id & (1 << (vcpu & 0xf)) != 0,
        Dest::SelfOnly => vcpu == sender,
        Dest::All => true,
        Dest::AllButSelf => vcpu != sender,
    }
}

#[cfg(test)]
mod tests;

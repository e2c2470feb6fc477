//! Emulated redistributor frames, one per vCPU: `GICR_*` (IHI 0069 12.11).
//!
//! Frame `i` of a partition's GICR range belongs to vCPU `i`. Its `GICR_TYPER` gives the
//! virtual affinity `i` and sets `Last` on the final frame, so a guest that walks frames
//! until `Last` (Linux does, whatever the DT region size says) stops inside the range.
//! SGIs are purely virtual; PPIs the partition may use (the two EL1 timers and any given
//! at construction) also reach the physical redistributor of the vCPU's physical CPU.

use bulkhead_drivers::gicv3::GICR_TYPER;

use super::intid::bits;
use super::mmio::{check, BadAccess, ConfigError, Width};
use super::{PhysGic, IIDR, MAX_VCPUS, PIDR2, RESET_PRIORITY, TIMER_PPIS};

/// Size of one vCPU's redistributor: RD_base and SGI_base 64 KiB frames.
pub const GICR_FRAME_SIZE: u64 = 0x2_0000;

/// Offset of the SGI_base frame.
const SGI_BASE: u64 = 0x1_0000;

/// `GICR_WAKER` bits (IHI 0069 12.11): ProcessorSleep and the read-only ChildrenAsleep.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// `GICR_ICFGR0`: SGIs are always edge-triggered (Int_config 0b10 each).
const ICFGR0_SGIS: u32 = 0xaaaa_aaaa;

/// The vCPU whose frame holds `offset` (from the partition's GICR base) and the offset
/// inside that frame, or `None` past the last vCPU's frame: nothing is emulated there and
/// the runtime treats the access as one to an unassigned device.
pub fn locate(offset: u64, vcpu_count: usize) -> Option<(usize, u64)> {
    let index = offset / GICR_FRAME_SIZE;
    (index < vcpu_count as u64).then_some((index as usize, offset % GICR_FRAME_SIZE))
}

/// Register families of a redistributor, by offset inside the 128 KiB pair of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Ctlr,
    Iidr,
    Typer {
        high: bool,
    },
    Waker,
    Pidr2,
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
    /// `GICR_IPRIORITYR<n>`; the INTID of the lowest byte accessed.
    Priority(u32),
    Config0,
    Config1,
    RazWi,
}

fn decode(offset: u64) -> (Reg, Width) {
    let word = |reg| (reg, Width::Word);
    match offset {
        0x0000 => word(Reg::Ctlr),
        0x0004 => word(Reg::Iidr),
        0x0008 | 0x000c => (
            Reg::Typer {
                high: offset == 0xc,
            },
            Width::WordOrDouble,
        ),
        0x0014 => word(Reg::Waker),
        0xffe8 => word(Reg::Pidr2),
        o if o >= SGI_BASE => match o - SGI_BASE {
            0x0080 => word(Reg::Group),
            0x0100 => word(Reg::SetEnable),
            0x0180 => word(Reg::ClearEnable),
            0x0200 => word(Reg::SetPending),
            0x0280 => word(Reg::ClearPending),
            0x0300 => word(Reg::SetActive),
            0x0380 => word(Reg::ClearActive),
            p @ 0x0400..=0x041f => (Reg::Priority((p - 0x400) as u32), Width::ByteOrWord),
            0x0c00 => word(Reg::Config0),
            0x0c04 => word(Reg::Config1),
            // GICR_IGRPMODR0 (RAZ/WI with DS = 1), GICR_NSACR, extended PPI registers...
            _ => (Reg::RazWi, Width::WordOrDouble),
        },
        // GICR_STATUSR, GICR_PROPBASER, GICR_PENDBASER, LPI registers: no LPIs here.
        _ => (Reg::RazWi, Width::WordOrDouble),
    }
}

/// The virtual redistributor of one vCPU.
pub struct VGicRedistributor {
    index: usize,
    last: bool,
    pcpu: u64,
    /// Bit n set: PPI n is passed through to the physical redistributor.
    passthrough: u32,
    enabled: u32,
    group1: u32,
    priority: [u8; 32],
    /// `GICR_ICFGR1` as written (PPI configuration; shadow only).
    icfgr1: u32,
    asleep: bool,
}

impl VGicRedistributor {
    /// The redistributor of vCPU `index` of `vcpu_count`, running on the physical CPU with
    /// `MPIDR_EL1` value `pcpu_mpidr`; PPIs set in `ppi_mask` (bit n = INTID n, 16..31)
    /// are passed through in addition to the timers' ([`TIMER_PPIS`]).
    pub fn new(
        index: usize,
        vcpu_count: usize,
        pcpu_mpidr: u64,
        ppi_mask: u32,
    ) -> Result<Self, ConfigError> {
        if vcpu_count == 0 {
            return Err(ConfigError::NoVcpus);
        }
        if vcpu_count > MAX_VCPUS {
            return Err(ConfigError::TooManyVcpus(vcpu_count));
        }
        if index >= vcpu_count {
            return Err(ConfigError::NoSuchVcpu(index));
        }
        if ppi_mask & 0xffff != 0 {
            return Err(ConfigError::NotAPpi(ppi_mask.trailing_zeros()));
        }
        Ok(Self {
            index,
            last: index + 1 == vcpu_count,
            pcpu: pcpu_mpidr,
            passthrough: ppi_mask | TIMER_PPIS,
            enabled: 0,
            group1: !0,
            priority: [RESET_PRIORITY; 32],
            icfgr1: 0,
            asleep: true,
        })
    }

    /// Puts the guest-visible state and the passthrough PPIs in reset state: asleep
    /// (`GICR_WAKER.ProcessorSleep`), everything disabled, inactive, not pending, Group 1,
    /// priority [`RESET_PRIORITY`].
    pub fn reset(&mut self, phys: &impl PhysGic) {
        self.enabled = 0;
        self.group1 = !0;
        self.priority = [RESET_PRIORITY; 32];
        self.icfgr1 = 0;
        self.asleep = true;
        for intid in bits(self.passthrough) {
            phys.ppi_enable(self.pcpu, intid, false);
            phys.ppi_pending(self.pcpu, intid, false);
            phys.ppi_active(self.pcpu, intid, false);
            phys.ppi_set_priority(self.pcpu, intid, RESET_PRIORITY);
        }
    }

    /// A guest load of `size` bytes at `offset` inside this vCPU's frames (see [`locate`]).
    pub fn read(&self, offset: u64, size: u8, phys: &impl PhysGic) -> Result<u64, BadAccess> {
        let (reg, width) = decode(offset);
        check(offset, size, width)?;
        let pt = self.passthrough;
        Ok(match reg {
            Reg::Iidr => u64::from(IIDR),
            Reg::Typer { high } => {
                let typer = self.typer();
                if high {
                    typer >> 32
                } else if size == 4 {
                    typer & 0xffff_ffff
                } else {
                    typer
                }
            }
            Reg::Waker if self.asleep => u64::from(WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP),
            Reg::Pidr2 => u64::from(PIDR2),
            Reg::Group => u64::from(self.group1),
            Reg::SetEnable | Reg::ClearEnable => u64::from(self.enabled),
            Reg::SetPending | Reg::ClearPending => u64::from(phys.ppi_pending_word(self.pcpu) & pt),
            Reg::SetActive | Reg::ClearActive => u64::from(phys.ppi_active_word(self.pcpu) & pt),
            Reg::Priority(first) => (0..u32::from(size)).fold(0, |acc, i| {
                acc | u64::from(self.priority[(first + i) as usize]) << (8 * i)
            }),
            Reg::Config0 => u64::from(ICFGR0_SGIS),
            Reg::Config1 => u64::from(self.icfgr1),
            Reg::Ctlr | Reg::Waker | Reg::RazWi => 0,
        })
    }

    /// A guest store of the low `size` bytes of `value` at `offset` inside this vCPU's
    /// frames.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
        phys: &impl PhysGic,
    ) -> Result<(), BadAccess> {
        let (reg, width) = decode(offset);
        check(offset, size, width)?;
        let v = value as u32;
        match reg {
            Reg::Waker => self.asleep = v & WAKER_PROCESSOR_SLEEP != 0,
            Reg::Group => self.group1 = v,
            Reg::SetEnable => self.set_enabled(v, true, phys),
            Reg::ClearEnable => self.set_enabled(v, false, phys),
            Reg::SetPending | Reg::ClearPending => {
                for intid in bits(v & self.passthrough) {
                    phys.ppi_pending(self.pcpu, intid, reg == Reg::SetPending);
                }
            }
            Reg::SetActive | Reg::ClearActive => {
                for intid in bits(v & self.passthrough) {
                    phys.ppi_active(self.pcpu, intid, reg == Reg::SetActive);
                }
            }
            Reg::Priority(first) => self.write_priority(first, size, value, phys),
            Reg::Config1 => self.icfgr1 = v & 0xaaaa_aaaa,
            Reg::Ctlr | Reg::Iidr | Reg::Typer { .. } | Reg::Pidr2 | Reg::Config0 | Reg::RazWi => {}
        }
        Ok(())
    }

    /// The frame index, which is also the vCPU index and its virtual Aff0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// `MPIDR_EL1` of the physical CPU running this vCPU.
    pub fn pcpu_mpidr(&self) -> u64 {
        self.pcpu
    }

    /// Whether the guest enabled SGI or PPI `intid` (0..31).
    pub fn is_enabled(&self, intid: u32) -> bool {
        intid < 32 && self.enabled & (1 << intid) != 0
    }

    /// Whether the guest put SGI or PPI `intid` in Group 1.
    pub fn is_group1(&self, intid: u32) -> bool {
        intid < 32 && self.group1 & (1 << intid) != 0
    }

    /// The guest's priority for SGI or PPI `intid` (for its list register).
    pub fn priority(&self, intid: u32) -> u8 {
        self.priority.get(intid as usize).copied().unwrap_or(0)
    }

    /// Whether PPI `intid` is passed through to the physical redistributor.
    pub fn is_passthrough(&self, intid: u32) -> bool {
        intid < 32 && self.passthrough & (1 << intid) != 0
    }

    /// Whether the guest has woken this redistributor (`GICR_WAKER.ProcessorSleep` = 0).
    pub fn is_awake(&self) -> bool {
        !self.asleep
    }

    /// `GICR_TYPER`: Affinity_Value and Processor_Number = vCPU index, `Last` on the final
    /// frame; no LPIs (PLPIS = DirectLPI = 0), so the guest never looks for LPI tables.
    fn typer(&self) -> u64 {
        (GICR_TYPER::Affinity_Value.val(self.index as u64)
            + GICR_TYPER::Processor_Number.val(self.index as u64)
            + GICR_TYPER::Last.val(u64::from(self.last)))
        .value
    }

    fn set_enabled(&mut self, mask: u32, on: bool, phys: &impl PhysGic) {
        if on {
            self.enabled |= mask;
        } else {
            self.enabled &= !mask;
        }
        for intid in bits(mask & self.passthrough) {
            phys.ppi_enable(self.pcpu, intid, on);
        }
    }

    fn write_priority(&mut self, first: u32, size: u8, value: u64, phys: &impl PhysGic) {
        for i in 0..u32::from(size) {
            let (intid, priority) = (first + i, (value >> (8 * i)) as u8);
            self.priority[intid as usize] = priority;
            if self.is_passthrough(intid) {
                phys.ppi_set_priority(self.pcpu, intid, priority);
            }
        }
    }
}

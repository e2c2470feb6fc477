//! A partition's emulated distributor: `GICD_*` (IHI 0069 12.9) limited to its own SPIs.
//!
//! The guest sees the physical number of SPI lines, but only its own SPIs have state:
//! bits and bytes of every other interrupt read as zero and writes to them are ignored.
//! With affinity routing enabled (always, here) SGIs and PPIs are RAZ/WI in the
//! distributor; they live in the redistributors.

use bulkhead_drivers::gicv3::GICD_TYPER;

use super::intid::{bits, IntIdSet, NR_INTIDS, SPI_FIRST, SPI_LAST};
use super::mmio::{check, BadAccess, ConfigError, Width};
use super::{PhysGic, IIDR, MAX_VCPUS, PIDR2, RESET_PRIORITY};

/// `GICD_CTLR` bits in the single-Security-state view (DS = 1) the guest gets.
const CTLR_ENABLE_GRP0: u32 = 1 << 0;
const CTLR_ENABLE_GRP1: u32 = 1 << 1;
const CTLR_ARE: u32 = 1 << 4;
const CTLR_DS: u32 = 1 << 6;

/// `GICD_IROUTER` bits a guest can set: Aff2..Aff0 and IRM (Aff3 is RES0, A3V = 0).
const IROUTER_AFF: u32 = 0x00ff_ffff;
const IROUTER_IRM: u32 = 1 << 31;

/// Register families of the distributor frame, by offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Ctlr,
    Typer,
    Iidr,
    Pidr2,
    /// One bit per INTID; register index n covers INTIDs 32n..32n+31.
    Bits(BitReg, usize),
    /// `GICD_IPRIORITYR`, one byte per INTID; the INTID of the lowest byte accessed.
    Priority(u32),
    /// `GICD_ICFGR<n>`, two bits per INTID.
    Config(usize),
    /// `GICD_IROUTER<intid>`; `high` for the upper 32-bit half.
    Router {
        intid: u32,
        high: bool,
    },
    /// Everything else: RAZ/WI.
    RazWi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

const BIT_REGS: [BitReg; 7] = [
    BitReg::Group,
    BitReg::SetEnable,
    BitReg::ClearEnable,
    BitReg::SetPending,
    BitReg::ClearPending,
    BitReg::SetActive,
    BitReg::ClearActive,
];

fn decode(offset: u64) -> (Reg, Width) {
    match offset {
        0x0000 => (Reg::Ctlr, Width::Word),
        0x0004 => (Reg::Typer, Width::Word),
        0x0008 => (Reg::Iidr, Width::Word),
        0xffe8 => (Reg::Pidr2, Width::Word),
        0x0080..=0x03ff => {
            let kind = BIT_REGS[(offset / 0x80 - 1) as usize];
            (Reg::Bits(kind, ((offset & 0x7f) / 4) as usize), Width::Word)
        }
        0x0400..=0x07ff => (Reg::Priority((offset - 0x400) as u32), Width::ByteOrWord),
        // GICD_ITARGETSR: RAZ/WI with affinity routing.
        0x0800..=0x0bff => (Reg::RazWi, Width::ByteOrWord),
        0x0c00..=0x0cff => (Reg::Config(((offset - 0xc00) / 4) as usize), Width::Word),
        0x6000..=0x7fff => {
            let intid = ((offset - 0x6000) / 8) as u32;
            (
                Reg::Router {
                    intid,
                    high: offset & 4 != 0,
                },
                Width::WordOrDouble,
            )
        }
        // GICD_TYPER2, GICD_IGRPMODR (RAZ/WI with DS = 1), GICD_NSACR, ID registers...
        _ => (Reg::RazWi, Width::WordOrDouble),
    }
}

/// One partition's virtual distributor.
///
/// Holds the guest-visible state of the partition's SPIs and keeps the physical
/// distributor in step: an owned SPI is physically enabled exactly when the guest has
/// enabled it and its group, and routed to the physical CPU running its target vCPU.
/// Call [`reset`](Self::reset) before the partition first runs and on each restart.
pub struct VGicDistributor {
    owned: IntIdSet,
    enabled: IntIdSet,
    group1: IntIdSet,
    edge: IntIdSet,
    priority: [u8; NR_INTIDS],
    /// Low word of each `GICD_IROUTER` as the guest wrote it (Aff2..Aff0, IRM).
    route: [u32; NR_INTIDS],
    pcpus: [u64; MAX_VCPUS],
    vcpus: usize,
    /// `GICD_CTLR` group enables (DS = 1 view).
    ctlr: u32,
    foreign_writes: u64,
    /// SPIs the guest was told about but that are not its own physical interrupts (an
    /// emulated device's line): writes to them are ignored without being counted.
    quiet: IntIdSet,
}

impl VGicDistributor {
    /// A distributor for a partition owning `spis`, whose vCPU `i` runs on the physical
    /// CPU with `MPIDR_EL1` value `pcpu_mpidrs[i]`.
    pub fn new(spis: &[u32], pcpu_mpidrs: &[u64]) -> Result<Self, ConfigError> {
        if pcpu_mpidrs.is_empty() {
            return Err(ConfigError::NoVcpus);
        }
        if pcpu_mpidrs.len() > MAX_VCPUS {
            return Err(ConfigError::TooManyVcpus(pcpu_mpidrs.len()));
        }
        let mut owned = IntIdSet::new();
        for &intid in spis {
            if !(SPI_FIRST..=SPI_LAST).contains(&intid) {
                return Err(ConfigError::NotAnSpi(intid));
            }
            owned.insert(intid);
        }
        let mut pcpus = [0; MAX_VCPUS];
        pcpus[..pcpu_mpidrs.len()].copy_from_slice(pcpu_mpidrs);
        Ok(Self {
            group1: owned.clone(),
            owned,
            enabled: IntIdSet::new(),
            edge: IntIdSet::new(),
            priority: [RESET_PRIORITY; NR_INTIDS],
            route: [0; NR_INTIDS],
            pcpus,
            vcpus: pcpu_mpidrs.len(),
            ctlr: 0,
            foreign_writes: 0,
            quiet: IntIdSet::new(),
        })
    }

    /// Ignores writes to SPI `intid` without counting them as foreign (see
    /// [`foreign_writes`](Self::foreign_writes)).
    pub fn tolerate(&mut self, intid: u32) {
        if (SPI_FIRST..=SPI_LAST).contains(&intid) {
            self.quiet.insert(intid);
        }
    }

    /// Puts the guest-visible state and the partition's physical SPIs in reset state:
    /// distributor and SPIs disabled, not pending or active, level-sensitive, priority
    /// [`RESET_PRIORITY`], routed to vCPU 0. SPIs reset to Group 1, the group every
    /// guest uses; the architecture leaves the reset group IMPLEMENTATION DEFINED.
    pub fn reset(&mut self, phys: &impl PhysGic) {
        self.ctlr = 0;
        self.enabled = IntIdSet::new();
        self.group1 = self.owned.clone();
        self.edge = IntIdSet::new();
        self.priority = [RESET_PRIORITY; NR_INTIDS];
        self.route = [0; NR_INTIDS];
        for intid in self.owned.iter() {
            phys.spi_enable(intid, false);
            phys.spi_pending(intid, false);
            phys.spi_active(intid, false);
            phys.spi_set_priority(intid, RESET_PRIORITY);
            phys.spi_set_config(intid, false);
            self.apply_route(intid, phys);
        }
    }

    /// A guest load of `size` bytes at `offset` into the GICD frame.
    pub fn read(&self, offset: u64, size: u8, phys: &impl PhysGic) -> Result<u64, BadAccess> {
        let (reg, width) = decode(offset);
        check(offset, size, width)?;
        Ok(match reg {
            Reg::Ctlr => u64::from(self.ctlr | CTLR_ARE | CTLR_DS),
            Reg::Typer => u64::from(self.typer(phys)),
            Reg::Iidr => u64::from(IIDR),
            Reg::Pidr2 => u64::from(PIDR2),
            Reg::Bits(kind, n) => u64::from(self.read_bits(kind, n, phys)),
            Reg::Priority(first) => self.read_priority(first, size),
            Reg::Config(n) => u64::from(self.read_config(n)),
            Reg::Router { intid, high } if !high && self.owns(intid) => {
                u64::from(self.route[intid as usize])
            }
            Reg::Router { .. } | Reg::RazWi => 0,
        })
    }

    /// A guest store of the low `size` bytes of `value` at `offset` into the GICD frame.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
        phys: &impl PhysGic,
    ) -> Result<(), BadAccess> {
        let (reg, width) = decode(offset);
        check(offset, size, width)?;
        match reg {
            Reg::Ctlr => self.write_ctlr(value as u32, phys),
            Reg::Bits(kind, n) => self.write_bits(kind, n, value as u32, phys),
            Reg::Priority(first) => self.write_priority(first, size, value, phys),
            Reg::Config(n) => self.write_config(n, value as u32, phys),
            Reg::Router { intid, high } if !high && self.owns(intid) => {
                self.route[intid as usize] = value as u32 & (IROUTER_AFF | IROUTER_IRM);
                self.apply_route(intid, phys);
            }
            Reg::Typer | Reg::Iidr | Reg::Pidr2 | Reg::Router { .. } | Reg::RazWi => {}
        }
        Ok(())
    }

    /// Whether the partition owns SPI `intid`.
    pub fn owns(&self, intid: u32) -> bool {
        self.owned.contains(intid)
    }

    /// The partition's SPIs.
    pub fn owned(&self) -> &IntIdSet {
        &self.owned
    }

    /// Guest attempts to enable, make pending or activate an SPI it does not own. Writes
    /// that only configure or clear other interrupts are ignored without counting:
    /// Linux's distributor init writes them for every SPI.
    pub fn foreign_writes(&self) -> u64 {
        self.foreign_writes
    }

    /// The guest's priority for SPI `intid` (for its list register).
    pub fn priority(&self, intid: u32) -> u8 {
        self.priority.get(intid as usize).copied().unwrap_or(0)
    }

    /// Whether the guest put SPI `intid` in Group 1.
    pub fn is_group1(&self, intid: u32) -> bool {
        self.group1.contains(intid)
    }

    /// Whether the guest made SPI `intid` edge-triggered (`GICD_ICFGR`); SPIs are
    /// level-sensitive until it does.
    pub fn is_edge(&self, intid: u32) -> bool {
        self.edge.contains(intid)
    }

    /// Whether SPI `intid` is owned, enabled, and its group enabled in `GICD_CTLR`.
    pub fn is_forwarding(&self, intid: u32) -> bool {
        let group_bit = if self.group1.contains(intid) {
            CTLR_ENABLE_GRP1
        } else {
            CTLR_ENABLE_GRP0
        };
        self.owns(intid) && self.enabled.contains(intid) && self.ctlr & group_bit != 0
    }

    /// The vCPU SPI `intid` is routed to: the one its `GICD_IROUTER` names, or vCPU 0
    /// for 1-of-N routing (IRM) and for affinities naming no vCPU, so the interrupt never
    /// leaves the partition.
    pub fn target_vcpu(&self, intid: u32) -> usize {
        let route = self.route.get(intid as usize).copied().unwrap_or(0);
        let (aff0, upper) = ((route & 0xff) as usize, route & 0x00ff_ff00);
        if route & IROUTER_IRM == 0 && upper == 0 && aff0 < self.vcpus {
            aff0
        } else {
            0
        }
    }

    /// Number of vCPUs of the partition.
    pub fn vcpu_count(&self) -> usize {
        self.vcpus
    }

    fn typer(&self, phys: &impl PhysGic) -> u32 {
        let cpus = (self.vcpus as u32 - 1).min(7);
        // No LPIs, MBIS or extended SPIs; IDbits 9: 10-bit INTIDs; 1-of-N supported.
        (GICD_TYPER::ITLinesNumber.val(phys.it_lines().min(31))
            + GICD_TYPER::CPUNumber.val(cpus)
            + GICD_TYPER::IDbits.val(9))
        .value
    }

    fn write_ctlr(&mut self, value: u32, phys: &impl PhysGic) {
        let ctlr = value & (CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1);
        if ctlr != self.ctlr {
            self.ctlr = ctlr;
            for intid in self.owned.iter() {
                phys.spi_enable(intid, self.is_forwarding(intid));
            }
        }
    }

    fn read_bits(&self, kind: BitReg, n: usize, phys: &impl PhysGic) -> u32 {
        let mask = self.owned.word(n);
        if mask == 0 {
            return 0;
        }
        mask & match kind {
            BitReg::Group => self.group1.word(n),
            BitReg::SetEnable | BitReg::ClearEnable => self.enabled.word(n),
            BitReg::SetPending | BitReg::ClearPending => phys.spi_pending_word(n),
            BitReg::SetActive | BitReg::ClearActive => phys.spi_active_word(n),
        }
    }

    fn write_bits(&mut self, kind: BitReg, n: usize, value: u32, phys: &impl PhysGic) {
        let owned = self.owned.word(n);
        let raising = matches!(
            kind,
            BitReg::SetEnable | BitReg::SetPending | BitReg::SetActive
        );
        if raising && n > 0 && value & !owned & !self.quiet.word(n) != 0 {
            self.foreign_writes += 1;
        }
        let base = 32 * n as u32;
        if kind == BitReg::Group {
            for b in bits(owned) {
                self.group1.set(base + b, value & (1 << b) != 0);
                phys.spi_enable(base + b, self.is_forwarding(base + b));
            }
            return;
        }
        for intid in bits(value & owned).map(|b| base + b) {
            match kind {
                BitReg::SetEnable | BitReg::ClearEnable => {
                    self.enabled.set(intid, kind == BitReg::SetEnable);
                    phys.spi_enable(intid, self.is_forwarding(intid));
                }
                BitReg::SetPending => phys.spi_pending(intid, true),
                BitReg::ClearPending => phys.spi_pending(intid, false),
                BitReg::SetActive => phys.spi_active(intid, true),
                BitReg::ClearActive => phys.spi_active(intid, false),
                BitReg::Group => {}
            }
        }
    }

    fn read_priority(&self, first: u32, size: u8) -> u64 {
        (0..u32::from(size))
            .filter(|&i| self.owns(first + i))
            .fold(0, |acc, i| {
                acc | u64::from(self.priority[(first + i) as usize]) << (8 * i)
            })
    }

    fn write_priority(&mut self, first: u32, size: u8, value: u64, phys: &impl PhysGic) {
        for i in 0..u32::from(size) {
            if !self.owns(first + i) {
                continue;
            }
            let priority = (value >> (8 * i)) as u8;
            self.priority[(first + i) as usize] = priority;
            phys.spi_set_priority(first + i, priority);
        }
    }

    fn read_config(&self, n: usize) -> u32 {
        let base = 16 * n as u32;
        (0..16)
            .filter(|&i| self.owns(base + i) && self.edge.contains(base + i))
            .fold(0, |acc, i| acc | 2 << (2 * i))
    }

    fn write_config(&mut self, n: usize, value: u32, phys: &impl PhysGic) {
        let base = 16 * n as u32;
        for i in 0..16 {
            let edge = value & (2 << (2 * i)) != 0;
            if self.owns(base + i) && edge != self.edge.contains(base + i) {
                self.edge.set(base + i, edge);
                phys.spi_set_config(base + i, edge);
            }
        }
    }

    /// Routes owned SPI `intid` to the physical CPU running its target vCPU.
    fn apply_route(&self, intid: u32, phys: &impl PhysGic) {
        debug_assert!(self.owns(intid));
        // SAFETY: callers pass only owned SPIs, and `pcpus[..vcpus]` are the physical CPUs
        // the partition was built with; `target_vcpu` is always below `vcpus`.
        unsafe { phys.spi_route(intid, self.pcpus[self.target_vcpu(intid)]) };
    }
}

//! GICv3 register layouts: `GICD_*` (IHI 0069 12.8, 12.9) and `GICR_*` (12.10, 12.11).

use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use super::NR_INTIDS;

/// Field layouts; `register_bitfields!` generates items without docs, hence the `allow`.
#[allow(missing_docs)]
mod fields {
    use tock_registers::register_bitfields;

    register_bitfields! {u32,
        /// `GICD_CTLR`, Non-secure view (IHI 0069 12.9). When `GICD_CTLR.DS` is 1, bit 0 is
        /// EnableGrp0 and bit 1 EnableGrp1; setting bits 0, 1 and 4 works in both views.
        pub GICD_CTLR [
            /// Register Write Pending: a write to `GICD_CTLR` or `GICD_ICENABLER` is in flight.
            RWP OFFSET(31) NUMBITS(1) [],
            /// Disable Security: single Security state (RAO when the GIC has no EL3).
            DS OFFSET(6) NUMBITS(1) [],
            /// Affinity routing enable for Non-secure state.
            ARE_NS OFFSET(4) NUMBITS(1) [],
            /// Non-secure Group 1 enable (EnableGrp1 in the DS = 1 view).
            EnableGrp1A OFFSET(1) NUMBITS(1) [],
            /// Group 1 enable (EnableGrp0 in the DS = 1 view).
            EnableGrp1 OFFSET(0) NUMBITS(1) []
        ],
        /// `GICD_TYPER` (IHI 0069 12.9).
        pub GICD_TYPER [
            /// Range selector support for `ICC_SGI1R_EL1` targets.
            RSS OFFSET(26) NUMBITS(1) [],
            /// 1 of N SPI routing (`GICD_IROUTER.IRM`) is *not* supported.
            No1N OFFSET(25) NUMBITS(1) [],
            /// Affinity level 3 supported.
            A3V OFFSET(24) NUMBITS(1) [],
            /// INTID bits supported, minus one.
            IDbits OFFSET(19) NUMBITS(5) [],
            /// LPIs supported.
            LPIS OFFSET(17) NUMBITS(1) [],
            /// Message-based SPIs supported.
            MBIS OFFSET(16) NUMBITS(1) [],
            /// Two Security states supported.
            SecurityExtn OFFSET(10) NUMBITS(1) [],
            /// Extended SPI range supported.
            ESPI OFFSET(8) NUMBITS(1) [],
            /// Non-affinity-routed PE count minus one.
            CPUNumber OFFSET(5) NUMBITS(3) [],
            /// SPIs supported: the maximum INTID is 32 * (ITLinesNumber + 1) - 1.
            ITLinesNumber OFFSET(0) NUMBITS(5) []
        ],
        /// `GICR_CTLR` (IHI 0069 12.11).
        pub GICR_CTLR [
            /// Upstream Write Pending.
            UWP OFFSET(31) NUMBITS(1) [],
            /// Register Write Pending: a write to `GICR_ICENABLER0` is in flight.
            RWP OFFSET(3) NUMBITS(1) [],
            /// LPI support enabled.
            EnableLPIs OFFSET(0) NUMBITS(1) []
        ],
        /// `GICR_WAKER` (IHI 0069 12.11).
        pub GICR_WAKER [
            /// Read-only: the interface to the PE is quiescent.
            ChildrenAsleep OFFSET(2) NUMBITS(1) [],
            /// The PE is asleep: the redistributor does not forward interrupts to it.
            ProcessorSleep OFFSET(1) NUMBITS(1) []
        ],
        /// `GICD_PIDR2`/`GICR_PIDR2`: peripheral ID 2.
        pub GIC_PIDR2 [
            /// GIC architecture revision: 3 for GICv3, 4 for GICv4.
            ArchRev OFFSET(4) NUMBITS(4) []
        ]
    }

    register_bitfields! {u64,
        /// `GICD_IROUTER<n>` (IHI 0069 12.9).
        pub GICD_IROUTER [
            /// Affinity level 3 of the target PE.
            Aff3 OFFSET(32) NUMBITS(8) [],
            /// Interrupt Routing Mode: 1 routes to any participating PE (1 of N).
            IRM OFFSET(31) NUMBITS(1) [],
            /// Affinity level 2.
            Aff2 OFFSET(16) NUMBITS(8) [],
            /// Affinity level 1.
            Aff1 OFFSET(8) NUMBITS(8) [],
            /// Affinity level 0.
            Aff0 OFFSET(0) NUMBITS(8) []
        ],
        /// `GICR_TYPER` (IHI 0069 12.11).
        pub GICR_TYPER [
            /// Aff3.Aff2.Aff1.Aff0 of the PE this redistributor serves.
            Affinity_Value OFFSET(32) NUMBITS(32) [],
            /// Maximum PPI INTID (GICv3.1 extended PPIs); 0: 31.
            PPInum OFFSET(27) NUMBITS(5) [],
            /// Processor number, for `ITS` target addresses.
            Processor_Number OFFSET(8) NUMBITS(16) [],
            /// The last redistributor of a contiguous region.
            Last OFFSET(4) NUMBITS(1) [],
            /// Direct LPI registers supported.
            DirectLPI OFFSET(3) NUMBITS(1) [],
            /// GICv4 virtual LPIs supported: the redistributor has four 64 KiB frames.
            VLPIS OFFSET(1) NUMBITS(1) [],
            /// Physical LPIs supported.
            PLPIS OFFSET(0) NUMBITS(1) []
        ]
    }
}

pub use fields::{
    GICD_CTLR, GICD_IROUTER, GICD_TYPER, GICR_CTLR, GICR_TYPER, GICR_WAKER, GIC_PIDR2,
};

register_structs! {
    /// The distributor frame, `GICD_*` (IHI 0069 12.8).
    pub Gicd {
        (0x0000 => pub(super) ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => pub(super) typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _reserved0),
        (0x0080 => pub(super) igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => pub(super) isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => pub(super) icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => pub(super) ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => pub(super) icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => pub(super) isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => pub(super) icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => pub(super) ipriorityr: [ReadWrite<u8>; NR_INTIDS]),
        (0x0800 => _reserved1),
        (0x0c00 => pub(super) icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => pub(super) igrpmodr: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved2),
        // Indexed by INTID; entries 0..31 are reserved and never touched.
        (0x6000 => pub(super) irouter: [ReadWrite<u64, GICD_IROUTER::Register>; NR_INTIDS]),
        (0x8000 => _reserved3),
        (0xffe8 => pub(super) pidr2: ReadOnly<u32, GIC_PIDR2::Register>),
        (0xffec => _reserved4),
        (0x10000 => @END),
    }
}

register_structs! {
    /// One redistributor: RD_base frame then SGI_base frame (IHI 0069 12.10).
    pub Gicr {
        (0x0_0000 => pub(super) ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0_0004 => _iidr),
        (0x0_0008 => pub(super) typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0_0010 => _statusr),
        (0x0_0014 => pub(super) waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0_0018 => _reserved0),
        (0x0_ffe8 => pub(super) pidr2: ReadOnly<u32, GIC_PIDR2::Register>),
        (0x0_ffec => _reserved1),
        (0x1_0080 => pub(super) igroupr0: ReadWrite<u32>),
        (0x1_0084 => _reserved2),
        (0x1_0100 => pub(super) isenabler0: ReadWrite<u32>),
        (0x1_0104 => _reserved3),
        (0x1_0180 => pub(super) icenabler0: ReadWrite<u32>),
        (0x1_0184 => _reserved4),
        (0x1_0200 => pub(super) ispendr0: ReadWrite<u32>),
        (0x1_0204 => _reserved5),
        (0x1_0280 => pub(super) icpendr0: ReadWrite<u32>),
        (0x1_0284 => _reserved6),
        (0x1_0300 => pub(super) isactiver0: ReadWrite<u32>),
        (0x1_0304 => _reserved7),
        (0x1_0380 => pub(super) icactiver0: ReadWrite<u32>),
        (0x1_0384 => _reserved8),
        (0x1_0400 => pub(super) ipriorityr: [ReadWrite<u8>; 32]),
        (0x1_0420 => _reserved9),
        (0x1_0d00 => pub(super) igrpmodr0: ReadWrite<u32>),
        (0x1_0d04 => _reserved10),
        (0x2_0000 => @END),
    }
}

//! List registers: the `ICH_LR<n>_EL2` encoding (IHI 0069 12.4) and injection into them.

use tock_registers::LocalRegisterCopy;

use super::intid::bits;
use crate::regs::ICH_LR;

type Lr = LocalRegisterCopy<u64, ICH_LR::Register>;

/// The state field of a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrState {
    /// Free (once `ICH_ELRSR_EL2` agrees).
    Invalid,
    /// Pending: the guest will take it when its priority allows.
    Pending,
    /// Acknowledged by the guest, not yet deactivated.
    Active,
    /// Active, and pending again.
    PendingActive,
}

impl LrState {
    const ALL: [Self; 4] = [
        Self::Invalid,
        Self::Pending,
        Self::Active,
        Self::PendingActive,
    ];
}

/// One list register value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListReg(u64);

impl ListReg {
    /// A pending Group 1 virtual interrupt `vintid` with `priority`, not hardware-mapped.
    pub fn pending(vintid: u32, priority: u8) -> Self {
        Self(
            (ICH_LR::vINTID.val(u64::from(vintid))
                + ICH_LR::Priority.val(u64::from(priority))
                + ICH_LR::Group::SET
                + ICH_LR::State::Pending)
                .value,
        )
    }

    /// The same interrupt hardware-mapped to physical `pintid` (16..=1019): the guest's
    /// deactivation of the virtual interrupt deactivates the physical one.
    pub fn with_hw(self, pintid: u32) -> Self {
        self.modify(ICH_LR::HW::SET + ICH_LR::pINTID.val(u64::from(pintid)))
    }

    /// The same interrupt in Group 1 (virtual IRQ) or Group 0 (virtual FIQ).
    pub fn with_group1(self, group1: bool) -> Self {
        self.modify(ICH_LR::Group.val(u64::from(group1)))
    }

    /// The same interrupt in `state`.
    pub fn with_state(self, state: LrState) -> Self {
        let index = LrState::ALL.iter().position(|&s| s == state).unwrap_or(0);
        self.modify(ICH_LR::State.val(index as u64))
    }

    /// A list register value as read from hardware.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw `ICH_LR<n>_EL2` value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The virtual INTID.
    pub fn vintid(self) -> u32 {
        Lr::new(self.0).read(ICH_LR::vINTID) as u32
    }

    /// The virtual priority.
    pub fn priority(self) -> u8 {
        Lr::new(self.0).read(ICH_LR::Priority) as u8
    }

    /// Whether the interrupt is Group 1.
    pub fn is_group1(self) -> bool {
        Lr::new(self.0).is_set(ICH_LR::Group)
    }

    /// The state field.
    pub fn state(self) -> LrState {
        LrState::ALL[Lr::new(self.0).read(ICH_LR::State) as usize]
    }

    /// The physical INTID if the interrupt is hardware-mapped.
    pub fn hw(self) -> Option<u32> {
        let lr = Lr::new(self.0);
        lr.is_set(ICH_LR::HW)
            .then(|| lr.read(ICH_LR::pINTID) as u32)
    }

    fn modify(self, field: tock_registers::fields::FieldValue<u64, ICH_LR::Register>) -> Self {
        let mut lr = Lr::new(self.0);
        lr.modify(field);
        Self(lr.get())
    }
}

/// This CPU's list registers, or a fake of them.
pub trait ListRegs {
    /// Implemented list registers (`ICH_VTR_EL2.ListRegs` + 1, at most 16).
    fn count(&self) -> usize;
    /// `ICH_ELRSR_EL2`: bit n set when list register n holds nothing.
    fn empty(&self) -> u16;
    /// Reads list register `n` (< [`count`](Self::count)).
    fn read(&self, n: usize) -> ListReg;
    /// Writes list register `n` (< [`count`](Self::count)).
    ///
    /// # Safety
    /// As [`regs::ich_lr::write`](crate::regs::ich_lr::write): a hardware-mapped `lr`
    /// must name a physical interrupt of this CPU's partition, active at this CPU.
    unsafe fn write(&mut self, n: usize, lr: ListReg);
}

/// No list register is free for a new interrupt: keep it queued ([`PendingIrqs`]) and
/// ask for a maintenance interrupt (`ICH_HCR_EL2.UIE` or `NPIE`) to retry.
///
/// [`PendingIrqs`]: super::PendingIrqs
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Makes virtual `intid` pending at `priority` (Group 1), hardware-mapped to physical
/// `hw` if given, and returns the list register used.
///
/// If a list register already holds `intid` it is made pending there (pending and active
/// if the guest is handling it), since two list registers with the same vINTID are
/// UNPREDICTABLE (IHI 0069, `ICH_LR<n>_EL2`). Otherwise the lowest free one (`ICH_ELRSR_EL2`) is used.
///
/// # Safety
/// If `hw` is `Some(p)`, `p` must be a physical interrupt of the partition running on this
/// CPU, acknowledged here and not yet deactivated (see [`ListRegs::write`]).
pub unsafe fn inject(
    lrs: &mut impl ListRegs,
    intid: u32,
    priority: u8,
    hw: Option<u32>,
) -> Result<usize, Full> {
    let implemented = (1u32 << lrs.count().min(16)) - 1;
    let empty = u32::from(lrs.empty()) & implemented;
    for n in bits(!empty & implemented).map(|b| b as usize) {
        let lr = lrs.read(n);
        if lr.vintid() == intid {
            let state = match lr.state() {
                LrState::Invalid | LrState::Pending => LrState::Pending,
                LrState::Active | LrState::PendingActive => LrState::PendingActive,
            };
            // SAFETY: the list register keeps its vINTID and HW mapping, which the caller
            // who injected it vouched for; only the state changes.
            unsafe { lrs.write(n, lr.with_state(state)) };
            return Ok(n);
        }
    }
    let n = bits(empty).next().ok_or(Full)? as usize;
    let lr = ListReg::pending(intid, priority);
    // SAFETY: a hardware mapping comes only from `hw`, which the caller vouches for.
    unsafe { lrs.write(n, hw.map_or(lr, |p| lr.with_hw(p))) };
    Ok(n)
}

/// [`inject`] for a purely virtual interrupt (an SGI, or an emulated device's SPI).
pub fn inject_virtual(lrs: &mut impl ListRegs, intid: u32, priority: u8) -> Result<usize, Full> {
    // SAFETY: no hardware mapping, so the guest's deactivation touches no physical state.
    unsafe { inject(lrs, intid, priority, None) }
}

//! A recording fake of the physical GIC and of a CPU's list registers.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::vgic::{ListReg, ListRegs, LrState, PhysGic};

/// One call the vGIC made on the physical GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    SpiEnable(u32, bool),
    SpiPriority(u32, u8),
    SpiConfig(u32, bool),
    SpiRoute(u32, u64),
    SpiPending(u32, bool),
    SpiActive(u32, bool),
    PpiEnable(u64, u32, bool),
    PpiPriority(u64, u32, u8),
    PpiPending(u64, u32, bool),
    PpiActive(u64, u32, bool),
}

/// Records calls; pending and active state is kept so reads see it.
#[derive(Default)]
pub struct FakeGic {
    pub it_lines: u32,
    calls: RefCell<Vec<Call>>,
    spi_pending: RefCell<[u32; 32]>,
    spi_active: RefCell<[u32; 32]>,
    ppi_pending: RefCell<HashMap<u64, u32>>,
    ppi_active: RefCell<HashMap<u64, u32>>,
}

impl FakeGic {
    pub fn new(it_lines: u32) -> Self {
        Self {
            it_lines,
            ..Self::default()
        }
    }

    /// The calls since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    fn log(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }
}

fn set_bit(word: &mut u32, bit: u32, on: bool) {
    if on {
        *word |= 1 << bit;
    } else {
        *word &= !(1 << bit);
    }
}

impl PhysGic for FakeGic {
    fn it_lines(&self) -> u32 {
        self.it_lines
    }
    fn spi_enable(&self, intid: u32, on: bool) {
        self.log(Call::SpiEnable(intid, on));
    }
    fn spi_set_priority(&self, intid: u32, priority: u8) {
        self.log(Call::SpiPriority(intid, priority));
    }
    fn spi_set_config(&self, intid: u32, edge: bool) {
        self.log(Call::SpiConfig(intid, edge));
    }
    unsafe fn spi_route(&self, intid: u32, pcpu_mpidr: u64) {
        self.log(Call::SpiRoute(intid, pcpu_mpidr));
    }
    fn spi_pending(&self, intid: u32, on: bool) {
        set_bit(
            &mut self.spi_pending.borrow_mut()[intid as usize / 32],
            intid % 32,
            on,
        );
        self.log(Call::SpiPending(intid, on));
    }
    fn spi_active(&self, intid: u32, on: bool) {
        set_bit(
            &mut self.spi_active.borrow_mut()[intid as usize / 32],
            intid % 32,
            on,
        );
        self.log(Call::SpiActive(intid, on));
    }
    fn spi_pending_word(&self, n: usize) -> u32 {
        self.spi_pending.borrow()[n]
    }
    fn spi_active_word(&self, n: usize) -> u32 {
        self.spi_active.borrow()[n]
    }
    fn ppi_enable(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        self.log(Call::PpiEnable(pcpu_mpidr, intid, on));
    }
    fn ppi_set_priority(&self, pcpu_mpidr: u64, intid: u32, priority: u8) {
        self.log(Call::PpiPriority(pcpu_mpidr, intid, priority));
    }
    fn ppi_pending(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        set_bit(
            self.ppi_pending.borrow_mut().entry(pcpu_mpidr).or_default(),
            intid,
            on,
        );
        self.log(Call::PpiPending(pcpu_mpidr, intid, on));
    }
    fn ppi_active(&self, pcpu_mpidr: u64, intid: u32, on: bool) {
        set_bit(
            self.ppi_active.borrow_mut().entry(pcpu_mpidr).or_default(),
            intid,
            on,
        );
        self.log(Call::PpiActive(pcpu_mpidr, intid, on));
    }
    fn ppi_pending_word(&self, pcpu_mpidr: u64) -> u32 {
        self.ppi_pending
            .borrow()
            .get(&pcpu_mpidr)
            .copied()
            .unwrap_or(0)
    }
    fn ppi_active_word(&self, pcpu_mpidr: u64) -> u32 {
        self.ppi_active
            .borrow()
            .get(&pcpu_mpidr)
            .copied()
            .unwrap_or(0)
    }
}

/// List registers in memory; `ICH_ELRSR_EL2` is derived as the hardware does.
pub struct FakeLrs(pub Vec<ListReg>);

impl FakeLrs {
    pub fn new(count: usize) -> Self {
        Self(vec![ListReg::from_raw(0); count])
    }
}

impl ListRegs for FakeLrs {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn empty(&self) -> u16 {
        let eoi = |lr: &ListReg| lr.hw().is_none() && lr.raw() & (1 << 41) != 0;
        (self.0.iter().enumerate())
            .filter(|(_, lr)| lr.state() == LrState::Invalid && !eoi(lr))
            .fold(0, |acc, (n, _)| acc | 1 << n)
    }
    fn read(&self, n: usize) -> ListReg {
        self.0[n]
    }
    unsafe fn write(&mut self, n: usize, lr: ListReg) {
        self.0[n] = lr;
    }
}

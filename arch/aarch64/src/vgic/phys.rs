//! The physical GIC as the vGIC sees it.

/// Physical GIC operations. The vGIC calls them only for interrupts the partition owns
/// (its SPIs, its vCPUs' passthrough PPIs) and only with physical CPUs of the partition;
/// [`hw::HwGic`](super::hw::HwGic) implements it over the drivers, tests over a fake.
pub trait PhysGic {
    /// `GICD_TYPER.ITLinesNumber` of the physical distributor.
    fn it_lines(&self) -> u32;
    /// Enables or disables SPI `intid`.
    fn spi_enable(&self, intid: u32, on: bool);
    /// Sets the priority of SPI `intid`.
    fn spi_set_priority(&self, intid: u32, priority: u8);
    /// Makes SPI `intid` edge-triggered (`edge`) or level-sensitive.
    fn spi_set_config(&self, intid: u32, edge: bool);
    /// Routes SPI `intid` to the physical CPU with `MPIDR_EL1` value `pcpu_mpidr`.
    ///
    /// # Safety
    /// `pcpu_mpidr` must run a vCPU of the partition that owns `intid`: routing decides
    /// which partition receives the interrupt.
    unsafe fn spi_route(&self, intid: u32, pcpu_mpidr: u64);
    /// Sets or clears the pending state of SPI `intid`.
    fn spi_pending(&self, intid: u32, on: bool);
    /// Sets or clears the active state of SPI `intid`.
    fn spi_active(&self, intid: u32, on: bool);
    /// `GICD_ISPENDR<n>`: pending bits of INTIDs 32n..32n+31.
    fn spi_pending_word(&self, n: usize) -> u32;
    /// `GICD_ISACTIVER<n>`: active bits of INTIDs 32n..32n+31.
    fn spi_active_word(&self, n: usize) -> u32;
    /// Enables or disables PPI `intid` at the redistributor of `pcpu_mpidr`.
    fn ppi_enable(&self, pcpu_mpidr: u64, intid: u32, on: bool);
    /// Sets the priority of PPI `intid` at the redistributor of `pcpu_mpidr`.
    fn ppi_set_priority(&self, pcpu_mpidr: u64, intid: u32, priority: u8);
    /// Sets or clears the pending state of PPI `intid` of `pcpu_mpidr`.
    fn ppi_pending(&self, pcpu_mpidr: u64, intid: u32, on: bool);
    /// Sets or clears the active state of PPI `intid` of `pcpu_mpidr`.
    fn ppi_active(&self, pcpu_mpidr: u64, intid: u32, on: bool);
    /// `GICR_ISPENDR0` of `pcpu_mpidr`.
    fn ppi_pending_word(&self, pcpu_mpidr: u64) -> u32;
    /// `GICR_ISACTIVER0` of `pcpu_mpidr`.
    fn ppi_active_word(&self, pcpu_mpidr: u64) -> u32;
}

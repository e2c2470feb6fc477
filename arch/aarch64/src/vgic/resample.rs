//! Level-sensitive hardware interrupts that fire exactly as often as on hardware.
//!
//! A physical interrupt of a partition is acknowledged and priority-dropped at EL2 and
//! handed to the guest in a hardware-linked list register; the guest's deactivation then
//! deactivates the physical interrupt (IHI 0069 1.2.3, `ICH_LR<n>_EL2.HW`). A guest that
//! deactivates a level-sensitive interrupt *before* it clears the device (`EOIR` first, a
//! common order) deactivates a line that is still asserted: the GIC makes it pending again
//! at once, and the hypervisor, which takes physical IRQs whatever the guest's PSTATE.I,
//! acknowledges it and latches it into a list register while the guest is still in its
//! handler. By the time the guest can take it the device is clear, and on hardware, where
//! the pending state of a level-sensitive interrupt follows the line (IHI 0069 4.1.2),
//! nothing would be taken.
//!
//! So a level-sensitive interrupt that arrives while the guest has IRQs masked (it cannot
//! take it now) is *marked*: its list register index is remembered and `ICH_HCR_EL2.TALL1`
//! makes the guest's next Group 1 CPU-interface access trap (the `ICC_IAR1_EL1` read of
//! its IRQ vector, in the case above). At that trap the hypervisor re-samples each marked
//! interrupt's physical line (`GICD_ISPENDR`/`GICR_ISPENDR0`: for a level-sensitive
//! interrupt, the line level while it is active) and, if the line is no longer asserted,
//! empties the list register and deactivates the physical interrupt itself; then it
//! clears the trap and lets the guest run its access again, natively. The guest sees what
//! hardware would give it: the next pending interrupt, or the spurious INTID 1023.
//! KVM re-samples mapped level interrupts from the same physical pending state
//! (`vgic_get_phys_line_level`), on its exits; this does it where the guest looks.

use super::lr::{ListReg, ListRegs, LrState};

/// Empties each list register of `marked` (bit n = list register n) that still holds a
/// pending, not yet acknowledged, hardware-mapped interrupt whose physical line
/// `asserted(pintid)` says is no longer asserted, and hands that physical INTID to
/// `deactivate`. Returns how many were dropped. List registers the guest acknowledged
/// meanwhile, or that hold something else now, are left alone.
pub fn resample(
    lrs: &mut impl ListRegs,
    marked: u16,
    mut asserted: impl FnMut(u32) -> bool,
    mut deactivate: impl FnMut(u32),
) -> usize {
    let mut dropped = 0;
    for n in (0..lrs.count().min(16)).filter(|n| marked & (1 << n) != 0) {
        let lr = lrs.read(n);
        let Some(pintid) = lr.hw() else { continue };
        if lr.state() != LrState::Pending || asserted(pintid) {
            continue;
        }
        // SAFETY: an invalid list register maps nothing; the physical interrupt it held
        // is deactivated right below, as the hypervisor must once it discards the link.
        unsafe { lrs.write(n, ListReg::from_raw(0)) };
        deactivate(pintid);
        dropped += 1;
    }
    dropped
}

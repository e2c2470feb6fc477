//! Host tests of the vGIC against a fake physical GIC and fake list registers.

mod fake;
mod fuzz;
mod gicd;
mod gicr;
mod lr;
mod resample;
mod sgi;

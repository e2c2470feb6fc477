//! Bulkhead's ARM64 backend: EL2 runtime, VMSAv8-64 stage-2 format, GICv3
//! virtualization and PSCI.
//!
//! The pure parts (descriptor format, syndrome and PSCI decoding, image placement,
//! the vGIC models) build and are tested on the host; the runtime (`rt`, feature
//! `runtime`) only builds for `aarch64-unknown-none-softfloat` (the hypervisor uses no FP/SIMD
//! registers, so guests' stay theirs).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod esr;
pub mod image;
pub mod psci;
pub mod regs;
pub mod stage2;
pub mod sysreg;
pub mod target;
pub mod vgic;

#[cfg(all(feature = "runtime", target_arch = "aarch64", target_os = "none"))]
pub mod rt;

//! Bulkhead's x86_64 backend: the Intel EPT stage-2 format (VMX runtime to come).
//!
//! Like the ARM64 backend, only formats and mechanisms live here; the algorithms are
//! in `bulkhead-core`. The descriptor format builds and is tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod ept;

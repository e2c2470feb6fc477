//! Bulkhead core: the arch-neutral heart of the hypervisor.
//!
//! Everything here runs on the host in `cargo test` as well as on the target: config
//! parsing and validation, the stage-2 page-table engine, the partition model, exit
//! dispatch and guest device-tree generation. Architectures plug in through the traits
//! in [`stage2`] and [`vcpu`]; nothing here names one.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod addr;
pub mod bundle;
pub mod config;
pub mod dt;
pub mod fdtgen;
pub mod hypercall;
pub mod log;
pub mod partition;
pub mod stage2;
pub mod vcpu;
pub mod vdev;

//! Bulkhead's x86_64 backend: boot (Multiboot2 and PVH), VMX and SVM, the Intel EPT
//! and AMD NPT stage-2 formats, the virtual x2APIC and I/O APIC, instruction decoding for emulated MMIO, and
//! the guest's boot protocol and ACPI tables.
//!
//! Like the ARM64 backend, only formats and mechanisms live here; the algorithms are
//! in `bulkhead-core`. Everything but the runtime (`rt`, feature `runtime`) builds and
//! is tested on the host; the runtime only builds for `x86_64-unknown-none`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod acpi;
pub mod bootinfo;
pub mod cpuid;
pub mod decode;
pub mod elf;
pub mod ept;
pub mod guestboot;
pub mod ioperm;
pub mod kernel;
pub mod machine;
pub mod msr;
pub mod npt;
pub mod target;
pub mod vioapic;
pub mod vlapic;
pub mod vmcb;
pub mod vmcs;

#[cfg(all(feature = "runtime", target_arch = "x86_64", target_os = "none"))]
pub mod rt;

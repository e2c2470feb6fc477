//! Bulkhead for QEMU's q35 PC under TCG with AMD SVM and nested paging
//! (`-cpu qemu64,+svm,+npt`), booted from a GRUB ISO.
//!
//! The image is the same x86 hypervisor as every PC board's: everything about the
//! machine comes from the boot loader's memory map, ACPI and the bundle (config.dts,
//! platform.dts beside this crate).
#![no_std]
#![no_main]

use bulkhead_x86_64::rt::Board;

/// The board's few constants.
#[no_mangle]
pub static BULKHEAD_BOARD: Board = Board { name: "qemu-q35-x86_64", early_uart: 0x3f8 };

//! Bulkhead for a Bochs PC with VMX and EPT (`cpu: model=corei7_skylake_x`), booted from
//! a GRUB ISO.
//!
//! Everything else about the board comes from the boot loader's memory map, ACPI and the
//! bundle (config.dts, platform.dts beside this crate).
#![no_std]
#![no_main]

use bulkhead_x86_64::rt::Board;

/// The board's few constants.
#[no_mangle]
pub static BULKHEAD_BOARD: Board = Board { name: "bochs-x86_64", early_uart: 0x3f8 };

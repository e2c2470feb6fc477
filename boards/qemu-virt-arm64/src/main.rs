//! Bulkhead for QEMU's aarch64 `virt` board: `-M virt,virtualization=on,gic-version=3`.
//!
//! Everything else about the board comes from the DTB QEMU passes in x0 and from the
//! config in the bundle (config.dts, platform.dts beside this crate).
#![no_std]
#![no_main]

use bulkhead_aarch64::rt::Board;

/// The board's few constants.
#[no_mangle]
pub static BULKHEAD_BOARD: Board = Board { name: "qemu-virt-arm64", early_uart: 0x0900_0000 };

//! `bench-linux-init`: the `/init` of the initramfs `cargo bh bench` boots Linux with.
//!
//! A static aarch64 Linux program, no libc: its first instruction reads `CNTVCT_EL0`
//! (Linux lets EL0 read the virtual counter), then it writes
//! `BENCH-LINUX cntvct=<n>` to its console (fd 1, `/dev/console`) and powers the
//! machine off with `reboot(2)`, which Linux turns into PSCI SYSTEM_OFF. With QEMU
//! `-icount shift=0` and a 1 GHz counter, `<n>` is the virtual time in nanoseconds from
//! reset to the first instruction of user space.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::panic::PanicInfo;

/// `write` (asm-generic/unistd.h).
const SYS_WRITE: u64 = 64;
/// `exit`.
const SYS_EXIT: u64 = 93;
/// `reboot`.
const SYS_REBOOT: u64 = 142;
/// `LINUX_REBOOT_MAGIC1`, `LINUX_REBOOT_MAGIC2`, `LINUX_REBOOT_CMD_POWER_OFF`.
const REBOOT_POWER_OFF: [u64; 3] = [0xfee1_dead, 672_274_793, 0x4321_fedc];
/// What precedes the number; the bench command waits for this line.
const MARKER: &[u8] = b"BENCH-LINUX cntvct=";

// Linux enters with SP 16-byte aligned and nothing else the program needs.
global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    mrs     x0, cntvct_el0
    bl      {main}
    "#,
    main = sym init_main,
);

extern "C" fn init_main(counter: u64) -> ! {
    let mut line = [0u8; 48];
    line[..MARKER.len()].copy_from_slice(MARKER);
    let mut len = MARKER.len() + decimal(counter, &mut line[MARKER.len()..]);
    line[len] = b'\n';
    len += 1;
    syscall(SYS_WRITE, [1, line.as_ptr() as u64, len as u64]);
    syscall(SYS_REBOOT, REBOOT_POWER_OFF);
    syscall(SYS_EXIT, [0, 0, 0]);
    // Not reached: exit does not return (and init exiting panics the kernel anyway).
    loop {
        core::hint::spin_loop();
    }
}

/// Writes `n` in decimal at the start of `out`; returns the digit count.
fn decimal(mut n: u64, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 20];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..count].iter().rev().enumerate() {
        out[i] = *d;
    }
    count
}

/// A system call with three arguments (x8 = number, x0..x2; result in x0).
fn syscall(number: u64, args: [u64; 3]) -> u64 {
    let ret: u64;
    // SAFETY: write reads `len` bytes of a live buffer, reboot and exit take plain
    // values; none of them touches this program's memory otherwise.
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x8") number,
            options(nostack)
        )
    };
    ret
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    syscall(SYS_EXIT, [1, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

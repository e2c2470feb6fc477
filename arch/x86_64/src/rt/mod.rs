//! The x86_64 runtime: boot, per-CPU start-up, VMX and the host services core's vCPU
//! loop uses.

mod console;
mod heap;

use crate::bootinfo::{self, Phys};

core::arch::global_asm!(include_str!("boot.s"), options(att_syntax));

/// What the board binary tells the runtime (STYLE 1: boards are data).
pub struct Board {
    /// Board name, printed at boot.
    pub name: &'static str,
    /// I/O port of the 16550 used before the config names the console.
    pub early_uart: u16,
}

extern "Rust" {
    /// Defined by the board crate.
    static BULKHEAD_BOARD: Board;
}

fn board() -> &'static Board {
    // SAFETY: the board crate defines this immutable static; reading it is safe.
    unsafe { &BULKHEAD_BOARD }
}

/// Physical memory through the boot identity map (the first 4 GiB).
struct Identity;

impl Phys for Identity {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        if addr == 0 || end > 1 << 32 {
            return None;
        }
        // SAFETY: the boot tables map the first 4 GiB; the range is below it. The loader's
        // structures and firmware tables live in RAM the hypervisor does not write.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// Boot CPU, after boot.s: the loader's magic (EAX) and information (EBX).
#[no_mangle]
extern "C" fn rust_primary(magic: u32, info: u32) -> ! {
    heap::init_early();
    console::init(board().early_uart);
    defmt::info!("bulkhead on {=str}", board().name);
    match bootinfo::read(magic, u64::from(info), &Identity) {
        Ok(bi) => {
            for (base, len) in &bi.ram {
                defmt::info!("ram {=u64:#x} +{=u64:#x}", base, len);
            }
            for (base, len) in &bi.modules {
                defmt::info!("module {=u64:#x} +{=u64:#x}", base, len);
            }
        }
        Err(e) => console::write_line(e.0),
    }
    halt()
}

/// Other CPUs, after the trampoline.
#[no_mangle]
extern "C" fn rust_secondary() -> ! {
    halt()
}

/// Stops this CPU for good.
pub fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("hypervisor panic: {}", defmt::Display2Format(info));
    halt()
}

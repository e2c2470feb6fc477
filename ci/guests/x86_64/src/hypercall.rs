//! Bulkhead hypercalls on x86: `VMCALL`, id in RAX, arguments in RDI, RSI, RDX, R10, R8,
//! R9; the result in RAX (and RDI, RSI for PARTITION_INFO's name). doc/x86.md.

use core::arch::asm;

use bulkhead_core::hypercall::{self, PARTITION_INFO};

/// Issues hypercall `id`; returns RAX, RDI, RSI.
///
/// Natively `VMCALL` raises #UD (fatal unless inside `attempt!`), so callers use it in a
/// partition only.
pub fn vmcall(id: u32, args: [u64; 6]) -> [u64; 3] {
    let (rax, rdi, rsi): (u64, u64, u64);
    // SAFETY: VMCALL exits to the hypervisor, which writes only the result registers
    // (all argument registers are declared clobbered anyway) and no guest memory.
    unsafe {
        asm!(
            "vmcall",
            inout("rax") u64::from(id) => rax,
            inout("rdi") args[0] => rdi,
            inout("rsi") args[1] => rsi,
            inout("rdx") args[2] => _,
            inout("r10") args[3] => _,
            inout("r8") args[4] => _,
            inout("r9") args[5] => _,
            options(nostack)
        )
    };
    [rax, rdi, rsi]
}

/// RAX read as a signed SMCCC status: the ids are SMC32, so the status is its low 32 bits.
pub fn status(rax: u64) -> i64 {
    i64::from(rax as u32 as i32)
}

/// PARTITION_INFO: `(id, name)` with the name copied into `buf` (NULs dropped), or the
/// negative status.
pub fn partition_info(buf: &mut [u8; 16]) -> Result<(u64, &str), i64> {
    let r = vmcall(PARTITION_INFO, [0; 6]);
    let s = status(r[0]);
    if s < 0 {
        return Err(s);
    }
    let len = hypercall::unpack_bytes(&r[1..3], buf.len(), buf);
    let end = buf[..len].iter().position(|&b| b == 0).unwrap_or(len);
    let name = core::str::from_utf8(&buf[..end]).unwrap_or("?");
    Ok((s as u64, name))
}

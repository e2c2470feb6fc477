//! The Bulkhead hypercall ABI: SMCCC-style function ids in the vendor-hypervisor range.
//!
//! A guest issues `HVC #0` (ARM) or `VMCALL` (x86) with the function id in the first
//! argument register (x0 / rax) and arguments in the next ones (x1.. / rdi, rsi, rdx,
//! r10, r8, r9). The result comes back in x0 / rax: `0` or a value for success, a
//! negative SMCCC error otherwise. Ids follow the SMC Calling Convention (Arm DEN0028):
//! fast call, SMC32 convention, owning entity 6 (vendor-specific hypervisor service).

/// Base of Bulkhead's function ids (fast, SMC32, OEN 6).
pub const BASE: u32 = 0x8600_0000;

/// Returns the caller's partition id in x0 and its name, NUL-padded, packed
/// little-endian into x1..x2 (up to 16 bytes).
pub const PARTITION_INFO: u32 = BASE;
/// Writes x1 bytes (at most [`CONSOLE_WRITE_MAX`]) packed little-endian in x2..x6 to
/// the partition's console. Lines are prefixed with the partition's name.
pub const CONSOLE_WRITE: u32 = BASE + 1;
/// Gives up the rest of the vCPU's time slice; returns at once on a dedicated CPU.
pub const YIELD: u32 = BASE + 2;
/// Halts the calling partition (all its vCPUs) as if it powered off.
pub const HALT_SELF: u32 = BASE + 3;
/// Restarts the calling partition from a pristine copy of its images.
pub const RESTART_SELF: u32 = BASE + 4;
/// Rings the doorbell of channel x1: every other sharer gets the channel's interrupt.
pub const DOORBELL: u32 = BASE + 5;

/// Most bytes one [`CONSOLE_WRITE`] carries (five 64-bit registers).
pub const CONSOLE_WRITE_MAX: usize = 40;

/// SMCCC return code: success.
pub const SUCCESS: i64 = 0;
/// SMCCC return code: unknown function id.
pub const NOT_SUPPORTED: i64 = -1;
/// SMCCC return code: a bad argument.
pub const INVALID_PARAMETERS: i64 = -2;

/// Unpacks up to `len` bytes stored little-endian in consecutive 64-bit registers.
pub fn unpack_bytes(regs: &[u64], len: usize, out: &mut [u8]) -> usize {
    let n = len.min(out.len()).min(regs.len() * 8);
    for (i, byte) in out.iter_mut().take(n).enumerate() {
        *byte = (regs[i / 8] >> ((i % 8) * 8)) as u8;
    }
    n
}

/// Packs up to `regs.len() * 8` bytes little-endian into 64-bit registers; returns how
/// many bytes were packed.
pub fn pack_bytes(bytes: &[u8], regs: &mut [u64]) -> usize {
    regs.iter_mut().for_each(|r| *r = 0);
    let n = bytes.len().min(regs.len() * 8);
    for (i, &b) in bytes.iter().take(n).enumerate() {
        regs[i / 8] |= u64::from(b) << ((i % 8) * 8);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_registers() {
        let mut regs = [0u64; 5];
        let text = b"hello, partition world\n";
        assert_eq!(pack_bytes(text, &mut regs), text.len());
        let mut out = [0u8; CONSOLE_WRITE_MAX];
        let n = unpack_bytes(&regs, text.len(), &mut out);
        assert_eq!(&out[..n], text);
    }

    #[test]
    fn unpack_is_bounded_by_registers_and_buffer() {
        let regs = [u64::MAX; 2];
        let mut out = [0u8; 64];
        assert_eq!(unpack_bytes(&regs, 1000, &mut out), 16);
        let mut small = [0u8; 3];
        assert_eq!(unpack_bytes(&regs, 10, &mut small), 3);
    }
}

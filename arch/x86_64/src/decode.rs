//! Decoding the instruction behind an emulated MMIO access (an EPT violation gives the
//! address, not the instruction): the common `MOV` forms a driver uses for device
//! registers (Intel SDM Vol. 2, MOV, MOVZX, MOVSX; the ModR/M and SIB tables of 2.1.5).
//!
//! Anything else (string moves, read-modify-write ALU forms, exchanges) is `None`: the
//! hypervisor does not guess, and the partition is stopped with a report.
//!
//! Also here: `MOV CRn, reg`, for CPUs whose control-register exits do not name the
//! register (SVM without decode assists).

/// What the instruction does at the faulting address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Load `size` bytes into general register `reg` (zero- or sign-extended).
    Load {
        /// Destination register (0 = RAX … 15 = R15; 16+n = the high byte of register n,
        /// AH/CH/DH/BH).
        reg: u8,
        /// Sign-extend (MOVSX) rather than zero-extend.
        sign: bool,
        /// Width of the destination in bytes (1, 2, 4, 8); a 4-byte write clears the
        /// upper half in 64-bit mode.
        dest_size: u8,
    },
    /// Store general register `reg` (encoded as for `Load`).
    Store {
        /// Source register.
        reg: u8,
    },
    /// Store an immediate.
    StoreImm(u64),
}

/// A decoded access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// What happens.
    pub op: Op,
    /// Bytes accessed in memory (1, 2, 4, 8).
    pub size: u8,
    /// Length of the instruction.
    pub len: u8,
}

/// The code size the instruction runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 64-bit mode.
    Long,
    /// 32-bit protected mode (CS.D = 1).
    Protected32,
    /// 16-bit code (real mode, CS.D = 0).
    Real16,
}

/// Decodes `code` (the bytes at the guest's RIP, up to 15).
pub fn decode(code: &[u8], mode: Mode) -> Option<Access> {
    let mut i = 0;
    let (mut opsize16, mut addr_override, mut rex) = (false, false, 0u8);
    loop {
        match *code.get(i)? {
            0x66 => opsize16 = true,
            0x67 => addr_override = true,
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => {}
            0xf0 | 0xf2 | 0xf3 => return None, // LOCK and REP have no MMIO meaning here
            b @ 0x40..=0x4f if mode == Mode::Long => {
                rex = b;
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
        if i > 14 {
            return None;
        }
    }
    let (w, r) = (rex & 8 != 0, rex & 4 != 0);
    let wide = match (mode, opsize16, w) {
        (_, _, true) => 8,
        (Mode::Real16, false, _) | (Mode::Long | Mode::Protected32, true, _) => 2,
        _ => 4,
    };
    let addr16 = matches!((mode, addr_override), (Mode::Real16, false) | (Mode::Protected32, true));
    let op = *code.get(i)?;
    i += 1;
    let (size, kind) = match op {
        0x88 => (1, Kind::Store),
        0x89 => (wide, Kind::Store),
        0x8a => (1, Kind::Load { sign: false, dest: 1 }),
        0x8b => (wide, Kind::Load { sign: false, dest: wide }),
        0xc6 => (1, Kind::Imm),
        0xc7 => (wide, Kind::Imm),
        0x0f => {
            let op2 = *code.get(i)?;
            i += 1;
            let sign = op2 & 8 != 0;
            match op2 {
                0xb6 | 0xbe => (1, Kind::Load { sign, dest: wide }),
                0xb7 | 0xbf => (2, Kind::Load { sign, dest: wide }),
                _ => return None,
            }
        }
        _ => return None,
    };
    let modrm = *code.get(i)?;
    i += 1;
    let (md, reg, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if md == 3 {
        return None; // register operand: no memory access
    }
    i += memory_operand_len(code.get(i..)?, md, rm, addr16)?;
    if i > code.len() {
        return None; // the displacement runs past the bytes fetched
    }
    let reg = register(reg | if r { 8 } else { 0 }, size == 1 && matches!(kind, Kind::Store | Kind::Load { dest: 1, .. }), rex != 0);
    let op = match kind {
        Kind::Store => Op::Store { reg },
        Kind::Load { sign, dest } => Op::Load { reg, sign, dest_size: dest },
        Kind::Imm => {
            if matches!(modrm >> 3 & 7, 1..=7) {
                return None; // /0 is MOV; the rest are not defined
            }
            let n = usize::from(size.min(4));
            let raw = code.get(i..i + n)?;
            i += n;
            let mut imm = raw.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
            if size == 8 && imm & 0x8000_0000 != 0 {
                imm |= 0xffff_ffff_0000_0000; // imm32 sign-extended to 64 bits
            }
            Op::StoreImm(imm)
        }
    };
    (i <= 15).then_some(Access { op, size, len: i as u8 })
}

enum Kind {
    Store,
    Load { sign: bool, dest: u8 },
    Imm,
}

/// Register `n` of an 8-bit operand without REX: 4..7 are AH, CH, DH, BH.
fn register(n: u8, byte: bool, rex: bool) -> u8 {
    if byte && !rex && (4..8).contains(&n) {
        16 + (n - 4)
    } else {
        n
    }
}

/// Bytes after ModR/M: SIB and displacement.
fn memory_operand_len(rest: &[u8], md: u8, rm: u8, addr16: bool) -> Option<usize> {
    if addr16 {
        return Some(match (md, rm) {
            (0, 6) => 2,
            (0, _) => 0,
            (1, _) => 1,
            _ => 2,
        });
    }
    let mut n = 0;
    let mut base = rm;
    if rm == 4 {
        base = rest.first()? & 7;
        n += 1;
    }
    n += match md {
        0 if base == 5 => 4, // disp32 (RIP-relative without SIB in 64-bit mode)
        0 => 0,
        1 => 1,
        _ => 4,
    };
    Some(n)
}

/// A `MOV CRn, reg` (`0F 22 /r`, any REX) at the start of `code`: the control
/// register, the general register (0 = RAX … 15 = R15) and the instruction's length.
pub fn mov_to_cr(code: &[u8], mode: Mode) -> Option<(u8, u8, u8)> {
    let mut i = 0;
    let mut rex = 0;
    while matches!(code.get(i)?, 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67) {
        i += 1;
    }
    if mode == Mode::Long && (0x40..=0x4f).contains(code.get(i)?) {
        rex = code[i];
        i += 1;
    }
    if code.get(i..i + 2)? != [0x0f, 0x22] {
        return None;
    }
    // The mod field is ignored: the operand is always a register.
    let modrm = *code.get(i + 2)?;
    let cr = ((modrm >> 3) & 7) | if rex & 4 != 0 { 8 } else { 0 };
    let gpr = (modrm & 7) | if rex & 1 != 0 { 8 } else { 0 };
    Some((cr, gpr, (i + 3) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(code: &[u8]) -> Access {
        decode(code, Mode::Long).expect("decodes")
    }

    #[test]
    fn loads_and_stores_of_every_width() {
        // mov eax, [rdi]
        assert_eq!(long(&[0x8b, 0x07]), Access { op: Op::Load { reg: 0, sign: false, dest_size: 4 }, size: 4, len: 2 });
        // mov [rbx+0x10], r9 (REX.WR)
        assert_eq!(long(&[0x4c, 0x89, 0x4b, 0x10]), Access { op: Op::Store { reg: 9 }, size: 8, len: 4 });
        // mov word [rax], cx
        assert_eq!(long(&[0x66, 0x89, 0x08]), Access { op: Op::Store { reg: 1 }, size: 2, len: 3 });
        // mov byte [rdx], ah
        assert_eq!(long(&[0x88, 0x22]), Access { op: Op::Store { reg: 16 }, size: 1, len: 2 });
        // mov byte [rdx], spl (REX)
        assert_eq!(long(&[0x40, 0x88, 0x22]), Access { op: Op::Store { reg: 4 }, size: 1, len: 3 });
        // movzx ecx, word [rsi+rax*4+0x100]
        assert_eq!(
            long(&[0x0f, 0xb7, 0x8c, 0x86, 0x00, 0x01, 0x00, 0x00]),
            Access { op: Op::Load { reg: 1, sign: false, dest_size: 4 }, size: 2, len: 8 }
        );
        // movsx rax, byte [rip+0x10]
        assert_eq!(
            long(&[0x48, 0x0f, 0xbe, 0x05, 0x10, 0, 0, 0]),
            Access { op: Op::Load { reg: 0, sign: true, dest_size: 8 }, size: 1, len: 8 }
        );
    }

    #[test]
    fn immediates_and_other_modes() {
        // mov dword [rdi+8], 0x12345678
        assert_eq!(long(&[0xc7, 0x47, 0x08, 0x78, 0x56, 0x34, 0x12]).op, Op::StoreImm(0x1234_5678));
        // mov qword [rdi], -1 (imm32 sign-extended)
        assert_eq!(long(&[0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff]).op, Op::StoreImm(u64::MAX));
        // 32-bit: mov [0xfec00000], eax (disp32 absolute)
        let a = decode(&[0x89, 0x05, 0, 0, 0xc0, 0xfe], Mode::Protected32).unwrap();
        assert_eq!((a.op, a.size, a.len), (Op::Store { reg: 0 }, 4, 6));
        // 16-bit: mov ax, [bx+si+0x10]
        let r = decode(&[0x8b, 0x40, 0x10], Mode::Real16).unwrap();
        assert_eq!((r.size, r.len), (2, 3));
    }

    #[test]
    fn everything_else_is_refused_and_nothing_panics() {
        assert_eq!(decode(&[0xf3, 0xa5], Mode::Long), None, "rep movsd");
        assert_eq!(decode(&[0x01, 0x07], Mode::Long), None, "add [rdi], eax");
        assert_eq!(decode(&[0x89, 0xc0], Mode::Long), None, "register form");
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut b = [0u8; 15];
            for x in &mut b {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                *x = (seed >> 56) as u8;
            }
            let n = (seed % 16) as usize;
            for mode in [Mode::Long, Mode::Protected32, Mode::Real16] {
                if let Some(a) = decode(&b[..n], mode) {
                    assert!(usize::from(a.len) <= n && [1, 2, 4, 8].contains(&a.size));
                }
            }
        }
    }

    #[test]
    fn moves_to_control_registers() {
        // mov cr4, rax
        assert_eq!(mov_to_cr(&[0x0f, 0x22, 0xe0], Mode::Long), Some((4, 0, 3)));
        // mov cr4, r9 (REX.B)
        assert_eq!(mov_to_cr(&[0x41, 0x0f, 0x22, 0xe1], Mode::Long), Some((4, 9, 4)));
        // mov cr0, ebx in 32-bit code: 0x41 is INC ECX there, not REX
        assert_eq!(mov_to_cr(&[0x0f, 0x22, 0xc3], Mode::Protected32), Some((0, 3, 3)));
        assert_eq!(mov_to_cr(&[0x41, 0x0f, 0x22, 0xe1], Mode::Protected32), None);
        // mov rax, cr4 (a read) and a truncated fetch
        assert_eq!(mov_to_cr(&[0x0f, 0x20, 0xe0], Mode::Long), None);
        assert_eq!(mov_to_cr(&[0x0f, 0x22], Mode::Long), None);
    }
}

//! The little ACPI the guest reads (ACPI 6.5): RSDP 5.2.5, RSDT/XSDT 5.2.7-8, the MADT's
//! local APIC and x2APIC entries (5.2.12), the FADT's PM1a control port (5.2.9) and the
//! DSDT's `\_S5` package (7.4.2) for SLP_TYP.

use crate::boot::MAX_CPUS;

/// What the tables say.
pub struct Acpi {
    /// APIC ids of the enabled (or online-capable) processors, in MADT order.
    pub apic_ids: [u32; MAX_CPUS],
    /// How many processors the MADT lists (may exceed `apic_ids.len()`).
    pub ncpus: usize,
    /// The FADT's `PM1a_CNT_BLK` port.
    pub pm1a_cnt: Option<u16>,
    /// SLP_TYPa of `\_S5`, from the DSDT.
    pub s5_slp_typ: Option<u8>,
}

/// Reads a `T` at a physical address (identity-mapped).
///
/// # Safety
/// The address is inside an ACPI table (or the BIOS area) the firmware or hypervisor wrote.
unsafe fn rd<T: Copy>(addr: u64) -> T {
    // SAFETY: forwarded from the caller.
    unsafe { (addr as *const T).read_unaligned() }
}

/// Whether `len` bytes at `addr` sum to zero.
///
/// # Safety
/// As for [`rd`], for the whole range.
unsafe fn checksum_ok(addr: u64, len: u64) -> bool {
    // SAFETY: forwarded from the caller.
    (0..len).fold(0u8, |s, i| s.wrapping_add(unsafe { rd::<u8>(addr + i) })) == 0
}

/// Whether `addr` holds a valid RSDP ("RSD PTR ", ACPI 1.0 checksum over 20 bytes).
///
/// # Safety
/// 20 bytes at `addr` are readable memory.
unsafe fn is_rsdp(addr: u64) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { rd::<[u8; 8]>(addr) == *b"RSD PTR " && checksum_ok(addr, 20) }
}

/// The RSDP: the loader's hint if valid, else the BIOS scan (EBDA's first KiB, then
/// 0xe0000-0xfffff, on 16-byte boundaries), as an OS does without a hint.
pub fn find_rsdp(hint: Option<u64>) -> Option<u64> {
    // SAFETY: the hint came from the loader; the scanned ranges are the PC's BIOS areas,
    // which are identity-mapped RAM or ROM (a partition's first region starts at 0).
    unsafe {
        if let Some(h) = hint.filter(|&h| h != 0 && h < 1 << 32 && is_rsdp(h)) {
            return Some(h);
        }
        let ebda = u64::from(rd::<u16>(0x40e)) << 4;
        let ebda_range = (0x8_0000..0xa_0000)
            .contains(&ebda)
            .then_some((ebda, ebda + 1024));
        [ebda_range, Some((0xe_0000, 0x10_0000))]
            .into_iter()
            .flatten()
            .flat_map(|(lo, hi)| (lo..hi).step_by(16))
            .find(|&a| is_rsdp(a))
    }
}

/// The table with `sig` listed by the RSDP's XSDT (revision 2+) or RSDT.
///
/// # Safety
/// `rsdp` passed [`find_rsdp`].
unsafe fn find_table(rsdp: u64, sig: &[u8; 4]) -> Option<u64> {
    // SAFETY: forwarded; every entry is checked for its signature and a sane length.
    unsafe {
        let revision: u8 = rd(rsdp + 15);
        let xsdt: u64 = if revision >= 2 { rd(rsdp + 24) } else { 0 };
        let (root, width) = if xsdt != 0 {
            (xsdt, 8)
        } else {
            (u64::from(rd::<u32>(rsdp + 16)), 4)
        };
        if root == 0 {
            return None;
        }
        let len = u64::from(rd::<u32>(root + 4)).min(4096);
        (36..len)
            .step_by(width)
            .map(|off| {
                if width == 8 {
                    rd::<u64>(root + off)
                } else {
                    u64::from(rd::<u32>(root + off))
                }
            })
            .find(|&t| t != 0 && t < 1 << 32 && rd::<[u8; 4]>(t) == *sig)
    }
}

/// Reads the MADT, FADT and DSDT; `Err` if there is no RSDP or no MADT.
pub fn parse(rsdp_hint: Option<u64>) -> Result<Acpi, &'static str> {
    let rsdp = find_rsdp(rsdp_hint).ok_or("no RSDP")?;
    // SAFETY: rsdp passed find_rsdp; tables are read within their own length.
    unsafe {
        let madt = find_table(rsdp, b"APIC").ok_or("no MADT")?;
        let mut acpi = Acpi {
            apic_ids: [0; MAX_CPUS],
            ncpus: 0,
            pm1a_cnt: None,
            s5_slp_typ: None,
        };
        madt_cpus(madt, &mut acpi);
        if let Some(fadt) = find_table(rsdp, b"FACP") {
            let port: u32 = rd(fadt + 64);
            acpi.pm1a_cnt = (port != 0 && port <= 0xffff).then_some(port as u16);
            let flen: u32 = rd(fadt + 4);
            let x_dsdt: u64 = if flen >= 148 { rd(fadt + 140) } else { 0 };
            let dsdt = if x_dsdt != 0 {
                x_dsdt
            } else {
                u64::from(rd::<u32>(fadt + 40))
            };
            if dsdt != 0 && dsdt < 1 << 32 && rd::<[u8; 4]>(dsdt) == *b"DSDT" {
                acpi.s5_slp_typ = s5(dsdt);
            }
        }
        Ok(acpi)
    }
}

/// Collects the processor entries (types 0 and 9) that are enabled or online-capable.
///
/// # Safety
/// `madt` is a MADT.
unsafe fn madt_cpus(madt: u64, acpi: &mut Acpi) {
    // SAFETY: forwarded; entries are walked inside the table's length.
    unsafe {
        let end = madt + u64::from(rd::<u32>(madt + 4)).min(64 * 1024);
        let mut e = madt + 44;
        while e + 2 <= end {
            let (ty, len) = (rd::<u8>(e), u64::from(rd::<u8>(e + 1)));
            if len < 2 {
                break;
            }
            let cpu = match ty {
                0 if len >= 8 => Some((u32::from(rd::<u8>(e + 3)), rd::<u32>(e + 4))),
                9 if len >= 16 => Some((rd::<u32>(e + 4), rd::<u32>(e + 8))),
                _ => None,
            };
            if let Some((id, _)) = cpu.filter(|&(_, flags)| flags & 0b11 != 0) {
                let known = acpi.apic_ids[..acpi.ncpus.min(MAX_CPUS)].contains(&id);
                if !known {
                    if acpi.ncpus < MAX_CPUS {
                        acpi.apic_ids[acpi.ncpus] = id;
                    }
                    acpi.ncpus += 1;
                }
            }
            e += len;
        }
    }
}

/// SLP_TYPa of `\_S5`: `NameOp "_S5_" PackageOp PkgLength NumElements <first element>`,
/// where the element is a ByteConst (0x0a nn), Zero (0x00) or One (0x01).
///
/// # Safety
/// `dsdt` is a DSDT.
unsafe fn s5(dsdt: u64) -> Option<u8> {
    // SAFETY: forwarded; every read stays inside the table's length.
    unsafe {
        let len = u64::from(rd::<u32>(dsdt + 4)).min(1 << 20);
        let at = (36..len.saturating_sub(8)).find(|&i| rd::<[u8; 4]>(dsdt + i) == *b"_S5_")?;
        let mut p = dsdt + at + 4;
        if rd::<u8>(p) != 0x12 {
            return None;
        }
        p += 1;
        let lead: u8 = rd(p);
        p += 1 + u64::from(lead >> 6); // PkgLength: lead byte + (bits 7:6) more bytes
        p += 1; // NumElements
        match rd::<u8>(p) {
            0x0a => Some(rd(p + 1)),
            v @ (0x00 | 0x01) => Some(v),
            _ => None,
        }
    }
}

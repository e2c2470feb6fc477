//! What an x86 partition boots with (doc/x86.md): the zero page of Linux's boot protocol
//! (Documentation/arch/x86/zero-page.rst, boot.rst) with the partition's e820 map,
//! command line and initrd, and the ACPI tables describing its vCPUs, I/O APIC and
//! power/reset ports (ACPI 6.5: RSDP 5.2.5, XSDT 5.2.8, FADT 5.2.9, MADT 5.2.12, a
//! DSDT holding only `\_S5`).

use alloc::vec;
use alloc::vec::Vec;

use crate::acpi::checksum_ok;

/// Where the zero page goes.
pub const ZERO_PAGE: u64 = 0x7000;
/// Where the command line goes.
pub const CMDLINE: u64 = 0x8000;
/// Longest command line, NUL included.
pub const CMDLINE_MAX: usize = 4096;
/// Where the ACPI tables go (the BIOS area Linux also scans for the RSDP).
pub const ACPI: u64 = 0xe_0000;
/// Room for the ACPI tables.
pub const ACPI_MAX: u64 = 0x1_0000;
/// The guest's local APIC base, as the MADT states it.
pub const LAPIC_BASE: u32 = 0xfee0_0000;
/// The virtual I/O APIC's base.
pub const IOAPIC_BASE: u32 = 0xfec0_0000;
/// The ACPI PM1a event block (status, enable).
pub const PM1A_EVT: u16 = 0x600;
/// The ACPI PM1a control block.
pub const PM1A_CNT: u16 = 0x604;
/// The reset register (the PC's reset control port).
pub const RESET_PORT: u16 = 0xcf9;
/// The value that resets through [`RESET_PORT`].
pub const RESET_VALUE: u8 = 0x06;
/// SLP_TYP of S5 in the DSDT's `\_S5` package.
pub const SLP_TYP_S5: u16 = 5;
/// The interrupt the FADT names for ACPI events (never raised: no events).
const SCI_IRQ: u16 = 9;

/// One e820 entry: `(base, length, type)`; type 1 usable, 3 ACPI reclaimable.
pub type E820 = (u64, u64, u32);

/// What goes into a partition's zero page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeroPage<'a> {
    /// The e820 map.
    pub e820: &'a [E820],
    /// Where the initrd was put and its size.
    pub initrd: Option<(u64, u64)>,
    /// A bzImage's setup header (from offset 0x1f1), copied in before the loader fields.
    pub setup_header: Option<&'a [u8]>,
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = page.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// The 4 KiB zero page.
pub fn zero_page(z: &ZeroPage<'_>) -> Vec<u8> {
    let mut page = vec![0u8; 4096];
    if let Some(header) = z.setup_header {
        let len = header.len().min(0x290 - 0x1f1);
        put(&mut page, 0x1f1, &header[..len]);
    }
    put(&mut page, 0x070, &(ACPI).to_le_bytes()); // acpi_rsdp_addr
    page[0x210] = 0xff; // type_of_loader: undefined
    page[0x211] |= 1; // loadflags: LOADED_HIGH
    put(&mut page, 0x228, &(CMDLINE as u32).to_le_bytes());
    put(&mut page, 0x238, &((CMDLINE_MAX - 1) as u32).to_le_bytes());
    if let Some((at, size)) = z.initrd {
        put(&mut page, 0x218, &(at as u32).to_le_bytes());
        put(&mut page, 0x21c, &(size as u32).to_le_bytes());
        put(&mut page, 0x0c0, &((at >> 32) as u32).to_le_bytes());
        put(&mut page, 0x0c4, &((size >> 32) as u32).to_le_bytes());
    }
    let n = z.e820.len().min(128);
    page[0x1e8] = n as u8;
    for (i, &(base, len, kind)) in z.e820.iter().take(n).enumerate() {
        let at = 0x2d0 + i * 20;
        put(&mut page, at, &base.to_le_bytes());
        put(&mut page, at + 8, &len.to_le_bytes());
        put(&mut page, at + 16, &kind.to_le_bytes());
    }
    page
}

/// The command line as the guest reads it: NUL-terminated, cut to [`CMDLINE_MAX`].
pub fn cmdline(text: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = text.bytes().take(CMDLINE_MAX - 1).collect();
    bytes.push(0);
    bytes
}

/// A table header (36 bytes) with `signature`, `revision` and the body; length and
/// checksum filled in.
fn table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    t[..4].copy_from_slice(signature);
    t[8] = revision;
    t[10..16].copy_from_slice(b"BLKHD ");
    t[16..24].copy_from_slice(b"BULKHEAD");
    t[24..28].copy_from_slice(&1u32.to_le_bytes());
    t[28..32].copy_from_slice(b"BLKH");
    t[32..36].copy_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut t, 9);
    t
}

/// Sets byte `at` so that `bytes` sums to zero.
fn fix_checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    bytes[at] = 0u8.wrapping_sub(sum);
}

/// A Generic Address Structure for `width` bits of I/O space at `port`.
fn gas_io(port: u16, width: u8) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = 1; // System I/O
    g[1] = width;
    g[3] = if width <= 8 { 1 } else if width <= 16 { 2 } else { 3 };
    g[4..6].copy_from_slice(&port.to_le_bytes());
    g
}

/// The MADT: a local APIC per vCPU (ids 0..vcpus), the I/O APIC.
fn madt(vcpus: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&LAPIC_BASE.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // no 8259 pair
    for id in 0..vcpus {
        if id < 255 {
            b.extend_from_slice(&[0, 8, id as u8, id as u8]);
            b.extend_from_slice(&1u32.to_le_bytes());
        } else {
            b.extend_from_slice(&[9, 16, 0, 0]);
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
        }
    }
    b.extend_from_slice(&[1, 12, 0, 0]);
    b.extend_from_slice(&IOAPIC_BASE.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    table(b"APIC", 5, &b)
}

/// The FADT (revision 6, 276 bytes): PM1a event and control blocks, the reset
/// register, the DSDT; no SMI port (ACPI is always on), no legacy devices promised.
fn fadt(dsdt: u64) -> Vec<u8> {
    let mut b = vec![0u8; 276 - 36];
    let at = |o: usize| o - 36;
    b[at(40)..at(44)].copy_from_slice(&(dsdt as u32).to_le_bytes());
    b[at(46)..at(48)].copy_from_slice(&SCI_IRQ.to_le_bytes());
    b[at(56)..at(60)].copy_from_slice(&u32::from(PM1A_EVT).to_le_bytes());
    b[at(64)..at(68)].copy_from_slice(&u32::from(PM1A_CNT).to_le_bytes());
    b[at(88)] = 4; // PM1_EVT_LEN
    b[at(89)] = 2; // PM1_CNT_LEN
    b[at(109)..at(111)].copy_from_slice(&((1u16 << 2) | (1 << 5)).to_le_bytes()); // no VGA, no CMOS RTC
    let flags: u32 = 1 | (1 << 10); // WBINVD works, RESET_REG_SUP
    b[at(112)..at(116)].copy_from_slice(&flags.to_le_bytes());
    b[at(116)..at(128)].copy_from_slice(&gas_io(RESET_PORT, 8));
    b[at(128)] = RESET_VALUE;
    b[at(131)] = 5; // FADT minor version: 6.5
    b[at(140)..at(148)].copy_from_slice(&dsdt.to_le_bytes());
    b[at(148)..at(160)].copy_from_slice(&gas_io(PM1A_EVT, 32));
    b[at(172)..at(184)].copy_from_slice(&gas_io(PM1A_CNT, 16));
    table(b"FACP", 6, &b)
}

/// A DSDT with only `Name (_S5, Package () { 5, 5, 0, 0 })`: S5's SLP_TYP for the
/// power-off path.
fn dsdt() -> Vec<u8> {
    let s5 = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0a, SLP_TYP_S5 as u8, 0x0a, SLP_TYP_S5 as u8, 0x00, 0x00];
    table(b"DSDT", 2, &s5)
}

/// The ACPI tables for a partition of `vcpus` vCPUs, laid out from guest-physical
/// [`ACPI`]: RSDP first, then XSDT, MADT, FADT and DSDT.
pub fn acpi_tables(vcpus: u32) -> Vec<u8> {
    let madt = madt(vcpus);
    let dsdt = dsdt();
    // Layout: RSDP (36, padded to 64), XSDT (36 + 2 * 8), then the tables, 16-aligned.
    let xsdt_at = ACPI + 64;
    let madt_at = (xsdt_at + 36 + 16).next_multiple_of(16);
    let dsdt_at = (madt_at + madt.len() as u64).next_multiple_of(16);
    let fadt_at = (dsdt_at + dsdt.len() as u64).next_multiple_of(16);
    let fadt = fadt(dsdt_at);
    let mut entries = Vec::new();
    entries.extend_from_slice(&madt_at.to_le_bytes());
    entries.extend_from_slice(&fadt_at.to_le_bytes());
    let xsdt = table(b"XSDT", 1, &entries);
    let mut rsdp = vec![0u8; 36];
    rsdp[..8].copy_from_slice(b"RSD PTR ");
    rsdp[9..15].copy_from_slice(b"BLKHD ");
    rsdp[15] = 2;
    rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
    rsdp[24..32].copy_from_slice(&xsdt_at.to_le_bytes());
    let v1 = {
        let mut head = rsdp[..20].to_vec();
        fix_checksum(&mut head, 8);
        head[8]
    };
    rsdp[8] = v1;
    fix_checksum(&mut rsdp, 32);
    let mut out = vec![0u8; (fadt_at - ACPI) as usize + fadt.len()];
    let mut place = |at: u64, t: &[u8]| {
        let o = (at - ACPI) as usize;
        out[o..o + t.len()].copy_from_slice(t);
    };
    place(ACPI, &rsdp);
    place(xsdt_at, &xsdt);
    place(madt_at, &madt);
    place(dsdt_at, &dsdt);
    place(fadt_at, &fadt);
    debug_assert!(checksum_ok(&out[..20]));
    out
}

#[cfg(test)]
mod tests;

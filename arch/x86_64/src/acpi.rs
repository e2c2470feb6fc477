//! Reading the machine's ACPI MADT (ACPI 6.5, 5.2.5 RSDP, 5.2.7/5.2.8 RSDT/XSDT, 5.2.12
//! MADT): which CPUs (local APIC ids) and I/O APICs the machine has.
//!
//! The boot path cross-checks the board's platform description against it. Every read
//! goes through [`Phys`] and every table's length and checksum is checked, so a broken
//! firmware table is a clear error, never a wild read.

use alloc::vec::Vec;

use crate::bootinfo::{Phys, Rsdp};

/// A processor's local APIC (MADT types 0 and 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// Its (x2)APIC id.
    pub apic_id: u32,
    /// Enabled, or at least online-capable.
    pub usable: bool,
}

/// An I/O APIC (MADT type 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// Its id.
    pub id: u8,
    /// Its MMIO base.
    pub address: u32,
    /// The first global system interrupt its pins carry.
    pub gsi_base: u32,
}

/// An ISA interrupt routed to another GSI (MADT type 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Override {
    /// The ISA IRQ.
    pub irq: u8,
    /// The GSI it arrives on.
    pub gsi: u32,
    /// MPS INTI flags (polarity bits 1:0, trigger mode bits 3:2).
    pub flags: u16,
}

/// What the MADT says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    /// The local APIC MMIO base (before any x2APIC switch).
    pub lapic: u32,
    /// Processors, in table order.
    pub cpus: Vec<Cpu>,
    /// I/O APICs.
    pub ioapics: Vec<IoApic>,
    /// Interrupt source overrides.
    pub overrides: Vec<Override>,
}

/// Why the tables cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAcpi(pub &'static str);

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether the bytes sum to zero (mod 256), as every ACPI structure's must.
pub fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
}

/// How to power the machine off: the FADT's PM1a control port and the SLP_TYP of S5
/// from the DSDT's `\_S5` package (ACPI 6.5, 7.4.2 and 16.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOff {
    /// PM1a_CNT_BLK.
    pub port: u16,
    /// SLP_TYPa for S5.
    pub slp_typ: u8,
}

/// The machine's power-off recipe, if its tables give one.
pub fn power_off(rsdp: &Rsdp, mem: &impl Phys) -> Result<PowerOff, BadAcpi> {
    let root = root_table(rsdp, mem)?;
    let fadt = find(root, mem, *b"FACP")?.ok_or(BadAcpi("no FADT"))?;
    let port = u32_at(fadt, 64).ok_or(BadAcpi("short FADT"))?;
    let dsdt = u64_at(fadt, 140).filter(|&x| x != 0).or(u32_at(fadt, 40).map(u64::from)).ok_or(BadAcpi("no DSDT"))?;
    let slp_typ = s5(table(dsdt, mem)?).ok_or(BadAcpi("no \\_S5 in the DSDT"))?;
    Ok(PowerOff { port: port as u16, slp_typ })
}

/// The first element of `Name (_S5, Package () { a, ... })` in AML: a BytePrefix
/// constant, Zero or One.
pub fn s5(dsdt: &[u8]) -> Option<u8> {
    let at = dsdt.windows(4).position(|w| w == b"_S5_")?;
    let rest = dsdt.get(at + 4..)?;
    if *rest.first()? != 0x12 {
        return None; // PackageOp
    }
    let pkglen_bytes = 1 + usize::from(rest.get(1)? >> 6);
    let element = rest.get(1 + pkglen_bytes + 1..)?; // skip PkgLength and NumElements
    match *element.first()? {
        0x0a => element.get(1).copied(), // BytePrefix
        0x00 => Some(0),                 // ZeroOp
        0x01 => Some(1),                 // OneOp
        _ => None,
    }
}

/// Reads the MADT reached from `rsdp`.
pub fn read_madt(rsdp: &Rsdp, mem: &impl Phys) -> Result<Madt, BadAcpi> {
    let root = root_table(rsdp, mem)?;
    let madt = find(root, mem, *b"APIC")?.ok_or(BadAcpi("no MADT (APIC table)"))?;
    parse_madt(madt)
}

/// The RSDT or XSDT: `(address, entry size)`.
fn root_table(rsdp: &Rsdp, mem: &impl Phys) -> Result<(u64, usize), BadAcpi> {
    let bad = BadAcpi("bad RSDP");
    let b: &[u8] = match rsdp {
        Rsdp::Copy(bytes) => bytes,
        Rsdp::At(at) => mem.bytes(*at, 20).ok_or(bad)?,
    };
    if b.get(..8) != Some(b"RSD PTR ") || !checksum_ok(b.get(..20).ok_or(bad)?) {
        return Err(bad);
    }
    let revision = *b.get(15).ok_or(bad)?;
    if revision >= 2 {
        let full: &[u8] = match rsdp {
            Rsdp::Copy(bytes) => bytes,
            Rsdp::At(at) => mem.bytes(*at, 36).ok_or(bad)?,
        };
        if let Some(xsdt) = u64_at(full, 24).filter(|&x| x != 0) {
            return Ok((xsdt, 8));
        }
    }
    Ok((u64::from(u32_at(b, 16).ok_or(bad)?), 4))
}

/// A whole table at `at`, length- and checksum-checked.
fn table(at: u64, mem: &impl Phys) -> Result<&[u8], BadAcpi> {
    let bad = BadAcpi("unreadable ACPI table");
    let len = mem.bytes(at, 36).and_then(|h| u32_at(h, 4)).ok_or(bad)? as usize;
    let t = mem.bytes(at, len.max(36)).ok_or(bad)?;
    if !checksum_ok(t) {
        return Err(BadAcpi("ACPI table checksum mismatch"));
    }
    Ok(t)
}

/// The table with `signature` listed in the root table.
fn find(root: (u64, usize), mem: &impl Phys, signature: [u8; 4]) -> Result<Option<&[u8]>, BadAcpi> {
    let (at, size) = root;
    let rt = table(at, mem)?;
    for entry in rt.get(36..).unwrap_or_default().chunks_exact(size) {
        let addr = if size == 8 { u64_at(entry, 0) } else { u32_at(entry, 0).map(u64::from) };
        let t = table(addr.ok_or(BadAcpi("bad root table"))?, mem)?;
        if t.get(..4) == Some(&signature[..]) {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// The entries of a MADT.
pub fn parse_madt(t: &[u8]) -> Result<Madt, BadAcpi> {
    let bad = BadAcpi("malformed MADT entry");
    let mut madt = Madt { lapic: u32_at(t, 36).ok_or(bad)?, ..Madt::default() };
    let mut off = 44;
    while off + 2 <= t.len() {
        let (kind, len) = (t[off], usize::from(t[off + 1]));
        let e = t.get(off..off + len).filter(|_| len >= 2).ok_or(bad)?;
        match kind {
            0 => {
                let flags = u32_at(e, 4).ok_or(bad)?;
                madt.cpus.push(Cpu { apic_id: u32::from(*e.get(3).ok_or(bad)?), usable: flags & 3 != 0 });
            }
            1 => madt.ioapics.push(IoApic {
                id: *e.get(2).ok_or(bad)?,
                address: u32_at(e, 4).ok_or(bad)?,
                gsi_base: u32_at(e, 8).ok_or(bad)?,
            }),
            2 => madt.overrides.push(Override {
                irq: *e.get(3).ok_or(bad)?,
                gsi: u32_at(e, 4).ok_or(bad)?,
                flags: u16_at(e, 8).ok_or(bad)?,
            }),
            9 => {
                let flags = u32_at(e, 8).ok_or(bad)?;
                madt.cpus.push(Cpu { apic_id: u32_at(e, 4).ok_or(bad)?, usable: flags & 3 != 0 });
            }
            _ => {}
        }
        off += len;
    }
    Ok(madt)
}

#[cfg(test)]
mod tests;

use super::*;

/// A table with a valid checksum: signature, then `body` after the 36-byte header.
pub fn sdt(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    t[..4].copy_from_slice(signature);
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    t[8] = 1;
    let sum = t.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    t[9] = 0u8.wrapping_sub(sum);
    t
}

fn madt_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // CPU 0, APIC 0, enabled
    b.extend_from_slice(&[0, 8, 1, 1, 0, 0, 0, 0]); // CPU 1, APIC 1, disabled
    b.extend_from_slice(&[1, 12, 2, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0]); // IOAPIC 2
    b.extend_from_slice(&[2, 10, 0, 0, 2, 0, 0, 0, 0, 0]); // IRQ0 -> GSI2
    b
}

struct Mem(Vec<(u64, Vec<u8>)>);

impl Phys for Mem {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.0.iter().find_map(|(at, b)| {
            let off = usize::try_from(addr.checked_sub(*at)?).ok()?;
            b.get(off..off.checked_add(len)?)
        })
    }
}

fn rsdp_v1(rsdt: u32) -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(0);
    r.extend_from_slice(&rsdt.to_le_bytes());
    let sum = r.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    r[8] = 0u8.wrapping_sub(sum);
    r
}

#[test]
fn the_madt_is_found_through_rsdp_and_rsdt() {
    let madt = sdt(b"APIC", &madt_body());
    let rsdt = sdt(b"RSDT", &0x2000u32.to_le_bytes());
    let mem = Mem(vec![(0x1000, rsdt), (0x2000, madt)]);
    let got = read_madt(&Rsdp::Copy(rsdp_v1(0x1000)), &mem).unwrap();
    assert_eq!(got.lapic, 0xfee0_0000);
    assert_eq!(got.cpus, [Cpu { apic_id: 0, usable: true }, Cpu { apic_id: 1, usable: false }]);
    assert_eq!(got.ioapics, [IoApic { id: 2, address: 0xfec0_0000, gsi_base: 0 }]);
    assert_eq!(got.overrides, [Override { irq: 0, gsi: 2, flags: 0 }]);
}

#[test]
fn bad_checksums_and_truncation_are_errors() {
    let mut madt = sdt(b"APIC", &madt_body());
    madt[40] ^= 1;
    let rsdt = sdt(b"RSDT", &0x2000u32.to_le_bytes());
    let mem = Mem(vec![(0x1000, rsdt), (0x2000, madt)]);
    assert_eq!(read_madt(&Rsdp::Copy(rsdp_v1(0x1000)), &mem), Err(BadAcpi("ACPI table checksum mismatch")));
    let mut short = madt_body();
    short.truncate(short.len() - 3);
    assert!(parse_madt(&sdt(b"APIC", &short)).is_err());
}

#[test]
fn s5_is_read_from_the_dsdt_package() {
    // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }): Bochs's and SeaBIOS's S5.
    let bochs = sdt(b"DSDT", &[0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(s5(&bochs), Some(0));
    let ours = crate::guestboot::acpi_tables(1);
    let dsdt = ours.windows(4).position(|w| w == b"DSDT").unwrap();
    assert_eq!(s5(&ours[dsdt..]), Some(5));
    assert_eq!(s5(b"no package here"), None);
}

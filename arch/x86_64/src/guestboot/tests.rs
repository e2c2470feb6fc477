use super::*;
use crate::acpi::{read_madt, Cpu};
use crate::bootinfo::{Phys, Rsdp};

struct Mem(u64, Vec<u8>);

impl Phys for Mem {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.0)?).ok()?;
        self.1.get(off..off.checked_add(len)?)
    }
}

#[test]
fn the_tables_read_back_through_the_madt_reader() {
    let mem = Mem(ACPI, acpi_tables(3));
    let madt = read_madt(&Rsdp::At(ACPI), &mem).unwrap();
    let cpus: Vec<Cpu> = (0..3).map(|apic_id| Cpu { apic_id, usable: true }).collect();
    assert_eq!(madt.cpus, cpus);
    assert_eq!(madt.ioapics[0].address, IOAPIC_BASE);
    assert!(mem.1.len() as u64 <= ACPI_MAX);
}

#[test]
fn every_table_sums_to_zero_and_the_fadt_names_the_ports() {
    let t = acpi_tables(1);
    assert!(checksum_ok(&t[..20]) && checksum_ok(&t[..36]), "RSDP v1 and v2 checksums");
    let fadt = t.windows(4).position(|w| w == b"FACP").unwrap();
    let len = u32::from_le_bytes(t[fadt + 4..fadt + 8].try_into().unwrap()) as usize;
    assert_eq!(len, 276);
    assert!(checksum_ok(&t[fadt..fadt + len]));
    assert_eq!(u32::from_le_bytes(t[fadt + 64..fadt + 68].try_into().unwrap()), u32::from(PM1A_CNT));
    assert_eq!(t[fadt + 128], RESET_VALUE);
    let dsdt = t.windows(4).position(|w| w == b"DSDT").unwrap();
    assert!(t[dsdt..].windows(4).any(|w| w == b"_S5_"));
}

#[test]
fn the_zero_page_carries_e820_cmdline_and_initrd() {
    let e820 = [(0, 0xe_0000, 1), (0xe_0000, 0x2_0000, 3), (0x10_0000, 0xf0_0000, 1)];
    let page = zero_page(&ZeroPage { e820: &e820, initrd: Some((0xf0_0000, 0x1234)), setup_header: None });
    assert_eq!(page[0x1e8], 3);
    assert_eq!(u64::from_le_bytes(page[0x2d0 + 40..0x2d0 + 48].try_into().unwrap()), 0x10_0000);
    assert_eq!(u32::from_le_bytes(page[0x228..0x22c].try_into().unwrap()), CMDLINE as u32);
    assert_eq!(u32::from_le_bytes(page[0x218..0x21c].try_into().unwrap()), 0xf0_0000);
    assert_eq!(u64::from_le_bytes(page[0x70..0x78].try_into().unwrap()), ACPI);
    assert_eq!(cmdline("test=smp"), b"test=smp\0");
}

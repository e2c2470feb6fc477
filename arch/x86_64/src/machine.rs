//! The board's platform description against the machine it boots on: the boot
//! loader's memory map and the ACPI MADT. A PC hands over no device tree, so the
//! description travels in the bundle and is believed only where the machine agrees:
//! every RAM range must be RAM in the map (adjacent entries count as one), every CPU an
//! enabled processor in the MADT, the I/O APIC where the MADT puts it.

use alloc::format;
use alloc::vec::Vec;

use bulkhead_core::config::{ConfigError, Platform};

use crate::acpi::Madt;

/// Why the description does not fit the machine (a `platform:` boot refusal).
pub fn check(platform: &Platform, ram: &[(u64, u64)], madt: &Madt) -> Result<(), ConfigError> {
    let mut spans: Vec<(u64, u64)> = ram.iter().map(|&(b, l)| (b, b.saturating_add(l))).collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    for range in &platform.memory {
        let (start, end) = (range.start.as_u64(), range.start.as_u64() + range.size);
        if !merged.iter().any(|&(s, e)| s <= start && end <= e) {
            let reason = format!("{}..HPA:{end:#x} is not RAM in this machine's memory map", range.start);
            return Err(ConfigError::property("/memory", "reg", reason));
        }
    }
    for cpu in &platform.cpus {
        if !madt.cpus.iter().any(|c| u64::from(c.apic_id) == cpu.id && c.usable) {
            let reason = format!("APIC id {} is not an enabled CPU in this machine's ACPI MADT", cpu.id);
            return Err(ConfigError::property(&cpu.node, "reg", reason));
        }
    }
    let ioapic = platform.devices.iter().find(|d| d.compatible.iter().any(|c| c == "intel,ioapic"));
    if let (Some(dev), Some(io)) = (ioapic, madt.ioapics.first()) {
        if dev.mmio.first().map(|r| r.start.as_u64()) != Some(u64::from(io.address)) {
            let reason = format!("the machine's I/O APIC is at {:#x}", io.address);
            return Err(ConfigError::property(&dev.path, "reg", reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::acpi::{Cpu, IoApic};

    fn platform() -> Platform {
        let source = include_str!("../../../boards/bochs-x86_64/platform.dts");
        let mut child = Command::new("dtc")
            .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("dtc is installed");
        child.stdin.take().unwrap().write_all(source.as_bytes()).unwrap();
        Platform::from_dtb(&child.wait_with_output().unwrap().stdout).unwrap()
    }

    fn bochs(cpus: u32) -> Madt {
        Madt {
            lapic: 0xfee0_0000,
            cpus: (0..cpus).map(|apic_id| Cpu { apic_id, usable: true }).collect(),
            ioapics: vec![IoApic { id: 4, address: 0xfec0_0000, gsi_base: 0 }],
            overrides: vec![],
        }
    }

    /// Bochs's BIOS map for 512 MiB, split where the BIOS split it.
    const RAM: [(u64, u64); 3] = [(0, 0x9f000), (0x10_0000, 0xf00_0000), (0xf10_0000, 0x10ef_0000)];

    #[test]
    fn the_board_matches_bochs_with_four_cpus() {
        check(&platform(), &RAM, &bochs(4)).unwrap();
    }

    #[test]
    fn fewer_cpus_or_less_ram_than_described_is_refused() {
        let err = check(&platform(), &RAM, &bochs(2)).unwrap_err();
        assert_eq!(err.to_string(), "/cpus/cpu@2: reg: APIC id 2 is not an enabled CPU in this machine's ACPI MADT");
        let small = [(0, 0x9f000), (0x10_0000, 0xff0_0000)];
        let err = check(&platform(), &small, &bochs(4)).unwrap_err();
        assert_eq!(err.to_string(), "/memory: reg: HPA:0x100000..HPA:0x1ff00000 is not RAM in this machine's memory map");
        let mut moved = bochs(4);
        moved.ioapics[0].address = 0xfec1_0000;
        assert_eq!(check(&platform(), &RAM, &moved).unwrap_err().to_string(), "/ioapic@fec00000: reg: the machine's I/O APIC is at 0xfec10000");
    }
}

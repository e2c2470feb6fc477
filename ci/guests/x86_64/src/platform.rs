//! The machine the guest finds itself on: boot hand-over, ACPI, and (in a partition)
//! PARTITION_INFO and the hypervisor's CPUID leaves.

use spin::Once;

use crate::acpi::{self, Acpi};
use crate::boot::MAX_CPUS;
use crate::bootinfo::{BootInfo, Protocol};
use crate::{apic, cpu, hypercall, say};

/// What the guest knows about its machine.
pub struct Platform {
    /// How it was entered.
    pub protocol: Protocol,
    /// No hypervisor (Multiboot2 or PVH entry).
    pub native: bool,
    /// Partition name from PARTITION_INFO, `native` natively.
    pub name: &'static str,
    /// Partition id from PARTITION_INFO, 0 natively.
    pub id: u64,
    /// PARTITION_INFO's failure status, if it failed.
    pub info_error: Option<i64>,
    /// The RAM run holding 1 MiB, (0, 0) if none was found.
    pub mem: (u64, u64),
    /// The command line.
    pub cmdline: &'static str,
    /// APIC ids from the MADT, this CPU's first; index = CPU number.
    pub apic_ids: [u32; MAX_CPUS],
    /// Processors the MADT lists (1 without ACPI).
    pub ncpus: usize,
    /// PM1a control port from the FADT.
    pub pm1a_cnt: Option<u16>,
    /// SLP_TYP of S5 from the DSDT.
    pub s5_slp_typ: Option<u8>,
    /// Why the ACPI tables could not be read.
    pub acpi_error: Option<&'static str>,
}

impl Platform {
    /// CPUs the guest will run: the MADT's, at most [`MAX_CPUS`].
    pub fn cpus(&self) -> usize {
        self.ncpus.clamp(1, MAX_CPUS)
    }
}

static PLATFORM: Once<Platform> = Once::new();
/// PARTITION_INFO's name bytes, name length and status (the id when not negative).
static INFO: Once<([u8; 16], usize, i64)> = Once::new();

/// Builds the platform from the hand-over, ACPI and PARTITION_INFO. Prints nothing: the
/// `hello` line comes first. Call after this CPU's APIC is up (for its id).
pub fn probe(boot: &BootInfo) -> &'static Platform {
    let native = boot.protocol.native();
    let (name, id, info_error) = if native {
        ("native", 0, None)
    } else {
        let (buf, len, status) = INFO.call_once(|| {
            let mut buf = [0u8; 16];
            match hypercall::partition_info(&mut buf).map(|(id, name)| (id, name.len())) {
                Ok((id, len)) => (buf, len, id as i64),
                Err(s) => (buf, 0, s),
            }
        });
        let name = core::str::from_utf8(&buf[..*len]).unwrap_or("?");
        match *status {
            s if s >= 0 => (name, s as u64, None),
            s => ("?", 0, Some(s)),
        }
    };
    let (acpi, acpi_error) = match acpi::parse(boot.rsdp) {
        Ok(a) => (a, None),
        Err(why) => (no_acpi(), Some(why)),
    };
    let mut apic_ids = acpi.apic_ids;
    let me = apic::id();
    let listed = acpi.ncpus.min(MAX_CPUS);
    if let Some(i) = apic_ids[..listed].iter().position(|&a| a == me) {
        apic_ids.swap(0, i);
    }
    PLATFORM.call_once(|| Platform {
        protocol: boot.protocol,
        native,
        name,
        id,
        info_error,
        mem: boot.mem.unwrap_or((0, 0)),
        cmdline: boot.cmdline,
        apic_ids,
        ncpus: acpi.ncpus.max(1),
        pm1a_cnt: acpi.pm1a_cnt,
        s5_slp_typ: acpi.s5_slp_typ,
        acpi_error,
    })
}

fn no_acpi() -> Acpi {
    let mut apic_ids = [0; MAX_CPUS];
    apic_ids[0] = apic::id();
    Acpi {
        apic_ids,
        ncpus: 1,
        pm1a_cnt: None,
        s5_slp_typ: None,
    }
}

/// Prints `FAIL` lines for what does not match the contract (after `hello`).
pub fn check(p: &Platform) {
    if let Some(why) = p.acpi_error {
        say!("FAIL acpi: {}", why);
    }
    if p.mem == (0, 0) {
        say!("FAIL memory map: no usable entry holds 1 MiB");
    }
    if p.ncpus > MAX_CPUS {
        say!(
            "FAIL madt lists {} cpus, the guest runs at most {}",
            p.ncpus,
            MAX_CPUS
        );
    }
    if p.native {
        return;
    }
    if let Some(s) = p.info_error {
        say!("FAIL partition_info returned {}", s);
    }
    let [max, b, c, d] = cpu::cpuid(0x4000_0000, 0);
    let mut sig = [0u8; 12];
    for (i, r) in [b, c, d].iter().enumerate() {
        sig[4 * i..4 * i + 4].copy_from_slice(&r.to_le_bytes());
    }
    if &sig != b"BulkheadHV\0\0" || max < 0x4000_0001 {
        say!("FAIL cpuid 0x40000000: max {:#x} signature {:?}", max, sig);
    }
    let [vcpus, id, _, _] = cpu::cpuid(0x4000_0001, 0);
    if vcpus as usize != p.ncpus || u64::from(id) != p.id {
        say!(
            "FAIL cpuid 0x40000001 vcpus={} id={}, madt {} cpus, partition_info id {}",
            vcpus,
            id,
            p.ncpus,
            p.id
        );
    }
    if cpu::cpuid(1, 0)[2] & (1 << 31) == 0 {
        say!("FAIL cpuid 1: hypervisor bit clear");
    }
    if !apic::has_tsc_deadline() {
        say!("FAIL cpuid 1: no tsc-deadline timer");
    }
}

/// Remaps the 8259 pair to vectors 0x20-0x2f and masks every line: natively the BIOS
/// leaves them at 0x08 (exception vectors). A partition has no 8259 (its ports are not
/// the partition's).
pub fn native_pic_off() {
    for (port, v) in [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, 0x20),
        (0xa1, 0x28),
        (0x21, 0x04),
        (0xa1, 0x02),
        (0x21, 0x01),
        (0xa1, 0x01),
        (0x21, 0xff),
        (0xa1, 0xff),
    ] {
        cpu::outb(port, v);
    }
}

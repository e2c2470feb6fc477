//! From config to runnable partitions: nested page tables (EPT or NPT), I/O and MSR
//! permission maps, virtual devices, images and the boot information of doc/x86.md.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use bulkhead_core::addr::{GuestPhysAddr, IoPort, Range};
use bulkhead_core::bundle::Bundle;
use bulkhead_core::config::{Config, ConsoleKind, Partition, Placement};
use bulkhead_core::partition::PartitionCtl;
use bulkhead_core::addr::HostPhysAddr;
use bulkhead_core::stage2::{grant_name, map_regions, partition_regions, DescriptorFormat, IdentityMemory, Stage2, TableFrames};
use bulkhead_core::vdev::{BadAccess, MmioDevice, VirtNs16550};
use spin::Mutex;

use super::console::Sink;
use super::{Extension, Page, Pages};
use crate::ept::{eptp, Ept};
use crate::guestboot::{self, ZeroPage, ACPI, CMDLINE, IOAPIC_BASE, ZERO_PAGE};
use crate::vioapic::VIoApic;
use crate::vlapic::Inbox;
use crate::{ioperm, kernel, msr, vmcb, vmcs};

/// Nested page-table frames for every partition.
pub static FRAMES: Mutex<TableFrames> = Mutex::new(TableFrames::new());

/// COM1, where every partition's virtual console sits.
const COM1: u64 = 0x3f8;

/// A partition as the x86 runtime holds it.
pub struct Part {
    /// Core's shared control block.
    pub ctl: PartitionCtl,
    /// The validated config of this partition.
    pub config: Partition,
    /// Physical x2APIC id of the CPU running each vCPU.
    pub pcpus: Vec<u32>,
    /// The nested page tables: the EPT pointer (VMX) or nCR3 (SVM).
    pub nested_root: u64,
    /// The VPID or ASID: partition id + 1 (never 0, which is the hypervisor's),
    /// wrapped to what the CPU has (each CPU runs one partition, so tags only need to
    /// differ from the host's).
    pub tag: u16,
    /// The I/O permission bitmap (physical address; [`ioperm`]).
    pub io_map: u64,
    /// The MSR permission map in the extension's format (physical address).
    pub msr_map: u64,
    /// Interrupts posted to each vCPU from other CPUs.
    pub inboxes: Vec<Inbox>,
    /// The virtual I/O APIC.
    pub ioapic: Arc<VIoApic>,
    /// The TSC frequency the partition is told (kHz).
    pub tsc_khz: u32,
    images: Images,
}

/// What a (re)start copies into the partition's RAM.
struct Images {
    kernel: &'static [u8],
    initrd: Option<&'static [u8]>,
    place: Placement,
    zero_page: Vec<u8>,
    cmdline: Vec<u8>,
    acpi: Vec<u8>,
}

/// The virtual I/O APIC as an MMIO device: 32-bit accesses only.
struct IoApicWindow(Arc<VIoApic>);

impl MmioDevice for IoApicWindow {
    fn read(&self, _vcpu: usize, offset: u64, size: u8) -> Result<u64, BadAccess> {
        if size != 4 {
            return Err(BadAccess("an I/O APIC access that is not 32 bits"));
        }
        self.0.read(offset).map(u64::from).ok_or(BadAccess("an I/O APIC register that does not exist"))
    }

    fn write(&self, _vcpu: usize, offset: u64, size: u8, value: u64) -> Result<(), BadAccess> {
        if size != 4 {
            return Err(BadAccess("an I/O APIC access that is not 32 bits"));
        }
        self.0.write(offset, value as u32).map(drop).ok_or(BadAccess("an I/O APIC register that does not exist"))
    }
}

/// Builds partition `id` of `config`, its images going where `place` says.
pub fn build(
    id: usize,
    config: &Config,
    bundle: &Bundle<'static>,
    place: Placement,
    tsc_khz: u32,
    ext: &Extension,
) -> Result<Part, String> {
    let p = &config.partitions[id];
    let images = images(p, bundle, place).map_err(|e| format!("{}: {e}", p.node))?;
    let mut ctl = PartitionCtl::new(id, &p.name, p.cpus.len(), p.restart);
    ctl.bad_access = p.bad_access;
    let ioapic = Arc::new(VIoApic::new());
    let window = Range::new(GuestPhysAddr::new(u64::from(IOAPIC_BASE)), 0x1000).ok_or("I/O APIC window")?;
    ctl.devices.add(window, Box::new(IoApicWindow(ioapic.clone()))).map_err(|e| String::from(e.0))?;
    if p.console == ConsoleKind::Virtual {
        let uart = Arc::new(VirtNs16550::new(&p.name, Arc::new(Sink)));
        let ports = Range::new(IoPort::new(COM1), 8).ok_or("COM1")?;
        ctl.ports.add(ports, Box::new(uart.clone())).map_err(|e| String::from(e.0))?;
        ctl.console = Some(uart);
    }
    let tables = |r: Result<HostPhysAddr, String>| r.map_err(|e| format!("{}: {e}", p.node));
    let (nested_root, tags, msr_map) = match ext {
        Extension::Vmx(_) => {
            let map = Page::leak();
            map.0 = vmcs::msr_bitmap(msr::PASSTHROUGH, msr::READ_ONLY);
            (eptp(tables(nested_tables(Ept::new(), id, config))?), u16::MAX, map.phys())
        }
        Extension::Svm(f) => {
            let map = Pages::<{ vmcb::MSRPM_BYTES }>::leak();
            // EFER reads exit on SVM (doc of `msr::READ_ONLY`).
            let read_only: Vec<u32> = msr::READ_ONLY.iter().copied().filter(|&m| m != msr::EFER).collect();
            map.0 = vmcb::msrpm(msr::PASSTHROUGH, &read_only);
            (tables(nested_tables(f.npt, id, config))?.as_u64(), f.asids, map.phys())
        }
    };
    let io_map = Pages::<{ ioperm::BYTES }>::leak();
    let open = p.devices.iter().flat_map(|d| d.ports.iter()).flat_map(|r| r.start.as_u64()..r.start.as_u64() + r.size);
    io_map.0 = ioperm::bitmap(open.map(|port| port as u16));
    Ok(Part {
        ctl,
        config: p.clone(),
        pcpus: p.cpus.iter().map(|&c| c as u32).collect(),
        nested_root,
        tag: (id % usize::from(tags.max(2) - 1)) as u16 + 1,
        io_map: io_map.phys(),
        msr_map,
        inboxes: (0..p.cpus.len()).map(|_| Inbox::new()).collect(),
        ioapic,
        tsc_khz,
        images,
    })
}

/// Nested page tables in `format` mapping what core's plan grants the partition,
/// nothing else; returns the root.
fn nested_tables<F: DescriptorFormat>(format: F, id: usize, config: &Config) -> Result<HostPhysAddr, String> {
    // SAFETY: table frames come from the hypervisor's own RAM, identity-mapped read-write
    // for good (boot.s maps the first 4 GiB, where validation keeps all RAM we use).
    let phys = unsafe { IdentityMemory::new() };
    let mut s2 = Stage2::new(format, phys, &FRAMES).map_err(|e| format!("nested page tables: {e}"))?;
    map_regions(&mut s2, &partition_regions(config, id))
        .map_err(|(r, e)| format!("nested page tables: {} at {}: {e}", grant_name(r.grant), r.gpa))?;
    let root = s2.root();
    core::mem::forget(s2); // the tables live as long as the partition: for ever
    Ok(root)
}

fn images(p: &Partition, bundle: &Bundle<'static>, place: Placement) -> Result<Images, String> {
    let entry = |name: &str| bundle.get(name).ok_or_else(|| format!("image \"{name}\" is not in the bundle"));
    let kernel = entry(&p.boot.kernel)?;
    let initrd = p.boot.initrd.as_deref().map(entry).transpose()?;
    let mut e820 = Vec::new();
    for r in &p.memory {
        let (start, end) = (r.guest.start.as_u64(), r.guest.start.as_u64() + r.guest.size);
        if start <= ACPI && ACPI < end {
            // The ACPI tables live in RAM, marked reclaimable so nothing reuses them early.
            let acpi_end = ACPI + guestboot::ACPI_MAX;
            e820.push((start, ACPI - start, 1));
            e820.push((ACPI, guestboot::ACPI_MAX, 3));
            if acpi_end < end {
                e820.push((acpi_end, end - acpi_end, 1));
            }
        } else {
            e820.push((start, r.guest.size, 1));
        }
    }
    let initrd_at = place.initrd.zip(initrd).map(|(at, i)| (at.as_u64(), i.len() as u64));
    let setup_header = crate::kernel::read(kernel).map_err(|e| format!("kernel: {e}"))?.setup_header;
    let zero_page = guestboot::zero_page(&ZeroPage { e820: &e820, initrd: initrd_at, setup_header });
    let cmdline = guestboot::cmdline(p.boot.bootargs.as_deref().unwrap_or(""));
    let acpi = guestboot::acpi_tables(p.cpus.len() as u32);
    Ok(Images { kernel, initrd, place, zero_page, cmdline, acpi })
}

impl Part {
    /// Copies the pristine images and boot information into RAM (clearing it first
    /// when `clear`); returns the boot vCPU's entry and its ESI.
    pub fn load(&self, clear: bool) -> Result<(GuestPhysAddr, u64), &'static str> {
        if clear {
            for r in &self.config.memory {
                // SAFETY: the region is this partition's RAM (validated not to overlap the
                // hypervisor or another partition), identity-mapped, and no vCPU of the
                // partition runs (the restart protocol waited). x86 caches are coherent.
                unsafe { core::ptr::write_bytes(r.host.as_u64() as *mut u8, 0, r.guest.size as usize) };
            }
        }
        self.ioapic.reset();
        let i = &self.images;
        let image = kernel::read(i.kernel).map_err(|_| "the kernel is no longer a valid image")?;
        for piece in &image.pieces {
            let (offset, len) = piece.file;
            self.copy(GuestPhysAddr::new(piece.paddr), &i.kernel[offset..offset + len])?;
            let rest = GuestPhysAddr::new(piece.paddr + len as u64);
            self.zero(rest, piece.mem - len as u64)?;
        }
        self.copy(GuestPhysAddr::new(ZERO_PAGE), &i.zero_page)?;
        self.copy(GuestPhysAddr::new(CMDLINE), &i.cmdline)?;
        self.copy(GuestPhysAddr::new(ACPI), &i.acpi)?;
        if let (Some(at), Some(initrd)) = (i.place.initrd, i.initrd) {
            self.copy(at, initrd)?;
        }
        Ok((i.place.entry, i.place.info.as_u64()))
    }

    fn copy(&self, gpa: GuestPhysAddr, bytes: &[u8]) -> Result<(), &'static str> {
        let hpa = self.config.host_of(gpa, bytes.len() as u64).ok_or("image outside the partition's RAM")?;
        // SAFETY: `host_of` proved the destination lies inside this partition's RAM,
        // which the hypervisor may write while the partition is stopped or not yet
        // started; the source is the bundle or the heap, which no partition reaches.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), hpa.as_u64() as *mut u8, bytes.len()) };
        Ok(())
    }

    fn zero(&self, gpa: GuestPhysAddr, len: u64) -> Result<(), &'static str> {
        if len == 0 {
            return Ok(());
        }
        let hpa = self.config.host_of(gpa, len).ok_or("image outside the partition's RAM")?;
        // SAFETY: as in `copy`.
        unsafe { core::ptr::write_bytes(hpa.as_u64() as *mut u8, 0, len as usize) };
        Ok(())
    }

    /// Reads guest-physical memory of this partition (for instruction fetches).
    pub fn read_guest(&self, gpa: u64, out: &mut [u8]) -> bool {
        let Some(hpa) = self.config.host_of(GuestPhysAddr::new(gpa), out.len() as u64) else {
            return false;
        };
        // SAFETY: the range is inside the partition's RAM, identity-mapped; reading it
        // races only with the guest's own writes, which cannot make the read unsafe.
        unsafe { core::ptr::copy_nonoverlapping(hpa.as_u64() as *const u8, out.as_mut_ptr(), out.len()) };
        true
    }
}

impl Part {
    /// Routes the physical pins of the partition's passthrough devices to the CPU of
    /// its first vCPU.
    pub fn route_device_pins(&self) {
        let Some(&cpu) = self.pcpus.first() else { return };
        for pin in self.config.devices.iter().flat_map(|d| d.interrupts.iter()) {
            if *pin < crate::vioapic::PINS {
                super::ioapic::route(*pin, cpu);
            }
        }
    }

    /// Physical `pin` of one of the partition's devices fired: deliver it where the
    /// partition's I/O APIC routes it (nowhere while masked).
    pub fn device_pin(&self, pin: u32) {
        if let Some(route) = self.ioapic.fire(pin) {
            if (route.vcpu as usize) < self.inboxes.len() {
                self.post(route.vcpu as usize, route.vector, route.level);
            }
        }
    }

    /// The guest ended level-triggered `vector`.
    pub fn level_eoi(&self, vector: u8) {
        self.ioapic.eoi(vector);
    }

    /// Posts `vector` (`level`-triggered or not) to vCPU `target` and kicks its CPU.
    pub fn post(&self, target: usize, vector: u8, level: bool) {
        let (Some(inbox), Some(&cpu)) = (self.inboxes.get(target), self.pcpus.get(target)) else { return };
        if inbox.post(vector, level) {
            super::apic::send(cpu, super::apic::KICK);
        }
    }
}

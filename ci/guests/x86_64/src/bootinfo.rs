//! What the loader hands over: Multiboot2 information (GRUB), `hvm_start_info` (QEMU's
//! PVH boot) or the zero page (a Bulkhead partition, doc/x86.md): RAM, command line, RSDP.

use spin::Once;

/// EAX of a Multiboot2 entry (Multiboot2 spec 3.2).
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;
/// `hvm_start_info.magic` (Xen `arch-x86/hvm/start_info.h`).
const PVH_MAGIC: u32 = 0x336e_c578;
/// The address the image is linked at: the RAM run holding it is the one reported.
const ONE_MIB: u64 = 0x10_0000;
/// Longest command line kept (NUL excluded).
const CMDLINE_MAX: usize = 4095;

/// How the guest was entered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// GRUB's Multiboot2: native.
    Multiboot2,
    /// QEMU `-kernel` through the PVH note: native.
    Pvh,
    /// The Linux 32-bit boot protocol's zero page: a Bulkhead partition.
    ZeroPage,
}

impl Protocol {
    /// Whether this is a bare machine rather than a partition.
    pub fn native(self) -> bool {
        self != Protocol::ZeroPage
    }

    /// How it is named in the guest's messages.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Multiboot2 => "multiboot2",
            Protocol::Pvh => "pvh",
            Protocol::ZeroPage => "zero page",
        }
    }
}

/// The parsed hand-over.
pub struct BootInfo {
    /// How the guest was entered.
    pub protocol: Protocol,
    /// Base and size of the RAM run (usable and ACPI entries that touch) holding 1 MiB.
    pub mem: Option<(u64, u64)>,
    /// The command line (a copy).
    pub cmdline: &'static str,
    /// Where an RSDP is (for Multiboot2: the copy of the one in its ACPI tag), if given.
    pub rsdp: Option<u64>,
}

/// One memory-map entry: base, length, type (1 usable, 3 ACPI reclaimable).
type Range = (u64, u64, u32);

/// A bounded list of memory-map entries.
struct Map {
    ranges: [Range; 64],
    len: usize,
}

impl Map {
    fn new() -> Self {
        Map {
            ranges: [(0, 0, 0); 64],
            len: 0,
        }
    }

    fn push(&mut self, r: Range) {
        if self.len < self.ranges.len() {
            self.ranges[self.len] = r;
            self.len += 1;
        }
    }

    /// The usable entry holding 1 MiB, grown by every usable or ACPI-reclaimable entry
    /// that touches it (a partition's RAM region may be split around its ACPI tables).
    fn ram_run(&self) -> Option<(u64, u64)> {
        let ram = |t: u32| t == 1 || t == 3;
        let list = &self.ranges[..self.len];
        let &(mut base, len, _) = list
            .iter()
            .find(|&&(b, l, t)| t == 1 && b <= ONE_MIB && ONE_MIB < b.saturating_add(l))?;
        let mut end = base + len;
        let mut grew = true;
        while grew {
            grew = false;
            for &(b, l, _) in list.iter().filter(|r| ram(r.2) && r.1 > 0) {
                if b == end {
                    end = b + l;
                    grew = true;
                } else if b + l == base {
                    base = b;
                    grew = true;
                }
            }
        }
        Some((base, end - base))
    }
}

/// Reads a `T` at a physical address (identity-mapped).
///
/// # Safety
/// The loader put a `T` there (any alignment).
unsafe fn rd<T: Copy>(addr: u64) -> T {
    // SAFETY: forwarded from the caller.
    unsafe { (addr as *const T).read_unaligned() }
}

static CMDLINE: Once<([u8; CMDLINE_MAX], usize)> = Once::new();
static RSDP_COPY: Once<[u8; 36]> = Once::new();

/// Copies a NUL-terminated string of at most [`CMDLINE_MAX`] bytes.
///
/// # Safety
/// `addr` is 0 or points at a NUL-terminated string the loader wrote.
unsafe fn copy_cmdline(addr: u64) -> &'static str {
    let (buf, len) = CMDLINE.call_once(|| {
        let mut buf = [0u8; CMDLINE_MAX];
        let mut len = 0;
        while addr != 0 && len < CMDLINE_MAX {
            // SAFETY: forwarded from the caller; we stop at the NUL.
            let b: u8 = unsafe { rd(addr + len as u64) };
            if b == 0 {
                break;
            }
            buf[len] = if b.is_ascii() { b } else { b'?' };
            len += 1;
        }
        (buf, len)
    });
    core::str::from_utf8(&buf[..*len]).unwrap_or("")
}

/// Parses the hand-over from the three entry registers saved by boot.s.
///
/// # Safety
/// The registers are what a Multiboot2, PVH or Linux-boot-protocol loader set; their
/// structures are intact (nothing has been written below 1 MiB yet).
pub unsafe fn parse(eax: u32, ebx: u32, esi: u32) -> BootInfo {
    // SAFETY: forwarded from the caller for each protocol's pointer.
    unsafe {
        if eax == MULTIBOOT2_MAGIC {
            multiboot2(u64::from(ebx))
        } else if ebx != 0 && rd::<u32>(u64::from(ebx)) == PVH_MAGIC {
            pvh(u64::from(ebx))
        } else {
            zero_page(u64::from(esi))
        }
    }
}

/// # Safety
/// `info` is GRUB's Multiboot2 information structure.
unsafe fn multiboot2(info: u64) -> BootInfo {
    let mut map = Map::new();
    let (mut cmdline, mut rsdp) = ("", None);
    // SAFETY: forwarded; tags are walked inside total_size, 8-byte aligned (spec 3.6).
    unsafe {
        let total = u64::from(rd::<u32>(info));
        let mut tag = info + 8;
        while tag + 8 <= info + total {
            let (ty, size) = (rd::<u32>(tag), u64::from(rd::<u32>(tag + 4)));
            match ty {
                0 => break,
                1 => cmdline = copy_cmdline(tag + 8),
                6 => {
                    let entry = u64::from(rd::<u32>(tag + 8)).max(24);
                    let mut e = tag + 16;
                    while e + 24 <= tag + size {
                        map.push((rd(e), rd(e + 8), rd(e + 16)));
                        e += entry;
                    }
                }
                14 | 15 => {
                    let copy = RSDP_COPY.call_once(|| {
                        let mut b = [0u8; 36];
                        let n = (size.saturating_sub(8) as usize).min(36);
                        for (i, byte) in b.iter_mut().enumerate().take(n) {
                            *byte = rd(tag + 8 + i as u64);
                        }
                        b
                    });
                    rsdp = Some(copy.as_ptr() as u64);
                }
                _ => {}
            }
            tag += (size + 7) & !7;
            if size < 8 {
                break;
            }
        }
    }
    BootInfo {
        protocol: Protocol::Multiboot2,
        mem: map.ram_run(),
        cmdline,
        rsdp,
    }
}

/// # Safety
/// `start` is QEMU's `hvm_start_info`.
unsafe fn pvh(start: u64) -> BootInfo {
    let mut map = Map::new();
    // SAFETY: forwarded; the memory map exists from version 1 on.
    unsafe {
        let version: u32 = rd(start + 4);
        let cmdline = copy_cmdline(rd(start + 24));
        let rsdp: u64 = rd(start + 32);
        if version >= 1 {
            let (table, n): (u64, u32) = (rd(start + 40), rd(start + 48));
            for i in 0..u64::from(n.min(64)) {
                let e = table + 24 * i;
                map.push((rd(e), rd(e + 8), rd(e + 16)));
            }
        }
        let rsdp = (rsdp != 0).then_some(rsdp);
        BootInfo {
            protocol: Protocol::Pvh,
            mem: map.ram_run(),
            cmdline,
            rsdp,
        }
    }
}

/// # Safety
/// `zp` is a zero page (`struct boot_params`) as doc/x86.md describes.
unsafe fn zero_page(zp: u64) -> BootInfo {
    let mut map = Map::new();
    // SAFETY: forwarded; offsets from Documentation/arch/x86/zero-page.rst.
    unsafe {
        let n: u8 = rd(zp + 0x1e8);
        for i in 0..u64::from(n.min(128)) {
            let e = zp + 0x2d0 + 20 * i;
            map.push((rd(e), rd(e + 8), rd(e + 16)));
        }
        let ptr = u64::from(rd::<u32>(zp + 0x228)) | u64::from(rd::<u32>(zp + 0x0c8)) << 32;
        let cmdline = copy_cmdline(ptr);
        let rsdp: u64 = rd(zp + 0x070);
        let rsdp = (rsdp != 0).then_some(rsdp);
        BootInfo {
            protocol: Protocol::ZeroPage,
            mem: map.ram_run(),
            cmdline,
            rsdp,
        }
    }
}

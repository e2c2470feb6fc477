//! Config to isolation with the Intel EPT format: for random configs validation
//! accepts, every partition's EPT tables map exactly its RAM, devices and channels, and
//! partitions share host frames only in channels.

use std::time::Instant;

use bulkhead_core::addr::{GuestPhysAddr, HostPhysAddr, Range};
use bulkhead_core::config::{
    BootImages, ConfigError, ConsoleKind, Footprint, GuestView, Partition, Placement, Platform,
    Target, Window,
};
use bulkhead_core::stage2::{conformance, count_frames, DescriptorFormat};
use bulkhead_x86_64::ept::Ept;

/// No x86 target exists yet. This one has the ARM64 build's shape (the same limits, an
/// emulated interrupt controller's windows where the platform's GIC is, one 128 KiB
/// frame per vCPU, a 4 KiB virtual console at the first PL011, PPIs and the console's
/// interrupt kept, SPI-range doorbells) with EPT's address widths, so that the property
/// runs the same kind of configs through EPT tables.
fn target() -> Target {
    Target {
        max_cpus: 64,
        max_vcpus: 16,
        ipa_bits: Ept::new().ipa_bits(),
        pa_bits: Ept::new().pa_bits(),
        console_uarts: &["arm,pl011"],
        uarts: &["arm,pl011", "ns16550a", "ns16550"],
        doorbells: (32, 1019),
        guest: guest_view,
        place,
        table_frames: Some(|regions| count_frames(Ept::new(), regions)),
        footprint: Footprint {
            load: HostPhysAddr::new(0x4008_0000),
            image_max: 1 << 20,
            heap: 8 << 20,
            frames: 4 << 20,
        },
    }
}

fn guest_view(platform: &Platform, p: &Partition) -> Result<GuestView, ConfigError> {
    let compatible = |c: &str| {
        platform
            .devices
            .iter()
            .find(|d| d.compatible.iter().any(|x| x == c))
    };
    let gic = compatible("arm,gic-v3")
        .ok_or_else(|| ConfigError::node("/", "no interrupt controller"))?;
    let uart = compatible("arm,pl011").ok_or_else(|| ConfigError::node("/", "no UART"))?;
    let window = |start: HostPhysAddr, size: u64, what: &str| {
        let range = Range::new(GuestPhysAddr::new(start.as_u64()), size);
        let range = range.ok_or_else(|| ConfigError::node("/", format!("{what} wraps around")))?;
        Ok::<_, ConfigError>(Window {
            range,
            what: what.into(),
        })
    };
    let [gicd, gicr, ..] = gic.mmio.as_slice() else {
        return Err(ConfigError::property(
            &gic.path,
            "reg",
            "two ranges expected",
        ));
    };
    let mut windows = vec![
        window(gicd.start, 0x1_0000, "the emulated GICD")?,
        window(
            gicr.start,
            0x2_0000 * p.cpus.len() as u64,
            "the emulated GICR frames",
        )?,
    ];
    let mut interrupts: Vec<u32> = (16..32).collect();
    if p.console == ConsoleKind::Virtual {
        windows.push(window(uart.mmio[0].start, 0x1000, "the virtual console")?);
        interrupts.extend(uart.interrupts.first());
    }
    Ok(GuestView {
        windows,
        ports: Vec::new(),
        interrupts,
    })
}

fn place(p: &Partition, _: &BootImages<'_>) -> Result<Placement, ConfigError> {
    let ram = p.memory[0].guest;
    let kernel = p.boot.load.unwrap_or(ram.start);
    Ok(Placement {
        kernel,
        entry: kernel,
        info: ram.start,
        info_max: 0x1000,
        initrd: None,
    })
}

#[test]
fn tables_map_exactly_what_the_config_grants() {
    let start = Instant::now();
    let platform = conformance::config_platform();
    let coverage = conformance::config_isolation(&Ept::new(), &platform, &target());
    eprintln!("EPT: {coverage}; {:.2?}", start.elapsed());
}

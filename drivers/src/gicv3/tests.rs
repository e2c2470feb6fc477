//! Host tests: the drivers run against plain memory standing in for the MMIO frames.

use super::*;

/// Zeroed, 8-byte aligned memory of `bytes` bytes.
fn frame(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes / 8]
}

fn rd32(mem: &[u64], off: usize) -> u32 {
    let word = mem[off / 8];
    (if off & 7 == 0 { word } else { word >> 32 }) as u32
}

fn wr64(mem: &mut [u64], off: usize, value: u64) {
    mem[off / 8] = value;
}

fn wr32(mem: &mut [u64], off: usize, value: u32) {
    let w = &mut mem[off / 8];
    *w = if off & 7 == 0 {
        (*w & !0xffff_ffff) | u64::from(value)
    } else {
        (*w & 0xffff_ffff) | (u64::from(value) << 32)
    };
}

fn gicd(mem: &mut [u64]) -> GicDistributor {
    // SAFETY: `mem` outlives the driver in each test and is large enough for a GICD frame.
    unsafe { GicDistributor::new(mem.as_mut_ptr() as usize) }
}

#[test]
fn spi_bits_land_in_the_right_registers() {
    let mut mem = frame(0x10000);
    let d = gicd(&mut mem);
    d.enable_spi(33);
    d.set_pending(64);
    d.disable_spi(95);
    d.set_priority(40, 0x80);
    // SAFETY: test memory, no real routing.
    unsafe { d.route_spi(40, 0x8000_0102) };
    assert_eq!(rd32(&mem, 0x104), 1 << 1); // GICD_ISENABLER1
    assert_eq!(rd32(&mem, 0x208), 1); // GICD_ISPENDR2
    assert_eq!(rd32(&mem, 0x188), 1 << 31); // GICD_ICENABLER2
    assert_eq!(rd32(&mem, 0x428) & 0xff, 0x80); // IPRIORITYR byte 40
    assert_eq!(mem[(0x6000 + 8 * 40) / 8], 0x102); // IROUTER40: RES1 bit 31 dropped
}

#[test]
fn set_config_sets_the_edge_bit_and_keeps_others() {
    let mut mem = frame(0x10000);
    wr32(&mut mem, 0xc08, 0x2); // ICFGR2: INTID 32 already edge
    let d = gicd(&mut mem);
    d.set_config(33, true);
    assert_eq!(rd32(&mem, 0xc08), 0x2 | 0x8);
}

#[test]
fn init_enables_affinity_routing_and_group1() {
    let mut mem = frame(0x10000);
    wr32(&mut mem, 0x4, 2); // ITLinesNumber = 2: INTIDs up to 95
    let d = gicd(&mut mem);
    assert_eq!(d.spi_end(), 96);
    d.init();
    assert_eq!(rd32(&mem, 0x0), 0x13);
    assert_eq!(rd32(&mem, 0x84), !0); // IGROUPR1
    assert_eq!(rd32(&mem, 0x184), !0); // ICENABLER1
    assert_eq!(rd32(&mem, 0x8c), 0); // IGROUPR3: beyond ITLines, untouched
    assert_eq!(rd32(&mem, 0x45c), 0xa0a0_a0a0); // IPRIORITYR 92..95
    assert_eq!(rd32(&mem, 0x41c), 0); // SGI/PPI priorities are the redistributor's
}

#[test]
fn affinity_helpers_drop_non_affinity_bits() {
    assert_eq!(affinity_value(0x0000_0012_8103_0201), 0x1203_0201);
    assert_eq!(irouter_from_mpidr(0x0000_0012_8103_0201), 0x12_0003_0201);
}

/// Three redistributor frames for MPIDR Aff0 = 0, 1, 2; the last says `Last`.
fn gicr_region() -> Vec<u64> {
    let mut mem = frame(3 * GICR_STRIDE);
    for i in 0..3usize {
        let base = i * GICR_STRIDE;
        let last = if i == 2 { 1 << 4 } else { 0 };
        wr64(
            &mut mem,
            base + 0x8,
            ((i as u64) << 32) | ((i as u64) << 8) | last,
        );
        wr32(&mut mem, base + PIDR2_OFFSET, 0x3b);
    }
    mem
}

#[test]
fn for_cpu_walks_to_the_matching_frame() {
    let mut mem = gicr_region();
    let base = mem.as_mut_ptr() as usize;
    // SAFETY: the region is live test memory of the given length.
    let rd = unsafe { Redistributor::for_cpu(base, mem.len() * 8, 0x8000_0002) }.unwrap();
    assert_eq!(rd.base(), base + 2 * GICR_STRIDE);
    rd.enable_ppi(27);
    rd.set_ppi_priority(27, 0x20);
    assert_eq!(rd32(&mem, 2 * GICR_STRIDE + 0x1_0100), 1 << 27);
    assert_eq!(rd32(&mem, 2 * GICR_STRIDE + 0x1_0418) >> 24, 0x20);
}

#[test]
fn for_cpu_stops_at_last_and_at_the_region_end() {
    let mut mem = gicr_region();
    let base = mem.as_mut_ptr() as usize;
    // SAFETY: as above; the lengths given never exceed the allocation.
    unsafe {
        assert!(Redistributor::for_cpu(base, mem.len() * 8, 3).is_none());
        assert!(Redistributor::for_cpu(base, 2 * GICR_STRIDE, 2).is_none());
        assert!(Redistributor::for_cpu(base, 2 * GICR_STRIDE, 1).is_some());
    }
}

#[test]
fn redistributor_init_and_wake() {
    let mut mem = gicr_region();
    let base = mem.as_mut_ptr() as usize;
    wr32(&mut mem, 0x14, 0x2); // ProcessorSleep set, ChildrenAsleep clear
                               // SAFETY: the region is live test memory of the given length.
    let rd = unsafe { Redistributor::for_cpu(base, mem.len() * 8, 0) }.unwrap();
    rd.wake();
    rd.init();
    assert_eq!(rd32(&mem, 0x14), 0);
    assert_eq!(rd32(&mem, 0x1_0080), !0); // IGROUPR0
    assert_eq!(rd32(&mem, 0x1_0100), 0xffff); // SGIs enabled
    assert_eq!(rd32(&mem, 0x1_0180), 0xffff_0000); // PPIs disabled
    assert_eq!(rd32(&mem, 0x1_041c), 0xa0a0_a0a0);
}

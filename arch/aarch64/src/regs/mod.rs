//! GICv3 CPU-interface system registers, typed in aarch64-cpu's style.
//!
//! aarch64-cpu 11 already describes `ICC_SRE_EL2` and `ICH_VTR_EL2` completely and the
//! `ICH_LR<n>_EL2` encodings; those are re-exported or wrapped here. The rest it lacks or
//! leaves without fields, so each gets a file: a `register_bitfields!` layout from Arm IHI
//! 0069 (12.2 for `ICC_*`, 12.4 for `ICH_*`), a `Reg` implementing tock-registers'
//! `Readable`/`Writeable` with `mrs`/`msr`, and a constant named like the register.
//!
//! The accessors exist only on aarch64; on other hosts they panic, so the pure decode
//! and encode logic built on the layouts still compiles and runs in host tests. Unlike
//! aarch64-cpu's they do not claim `nomem`: acknowledging, ending or sending an interrupt
//! must stay ordered with the memory accesses around it.

/// Implements `Readable::get` for a register named `$name` in the assembler.
macro_rules! sysreg_get {
    ($name:literal) => {
        #[cfg(target_arch = "aarch64")]
        #[inline]
        fn get(&self) -> u64 {
            let value: u64;
            // SAFETY: `mrs` of a GICv3 CPU-interface register accesses no memory; its only
            // effect is on interrupt-controller state as the register's contract describes
            // (acknowledging, for `ICC_IAR1_EL1`). Without GICv3 system registers it raises
            // an Undefined Instruction exception instead.
            unsafe {
                core::arch::asm!(concat!("mrs {v}, ", $name), v = out(reg) value,
                    options(nostack, preserves_flags))
            };
            value
        }

        #[cfg(not(target_arch = "aarch64"))]
        fn get(&self) -> u64 {
            unimplemented!(concat!($name, " exists only on aarch64"))
        }
    };
}

/// Implements `Writeable::set` for a register named `$name` in the assembler.
macro_rules! sysreg_set {
    ($name:literal) => {
        #[cfg(target_arch = "aarch64")]
        #[inline]
        fn set(&self, value: u64) {
            // SAFETY: `msr` to a GICv3 CPU-interface register writes no memory; what the
            // value does to interrupt delivery is the register's documented contract.
            unsafe {
                core::arch::asm!(concat!("msr ", $name, ", {v}"), v = in(reg) value,
                    options(nostack, preserves_flags))
            };
        }

        #[cfg(not(target_arch = "aarch64"))]
        fn set(&self, _value: u64) {
            unimplemented!(concat!($name, " exists only on aarch64"))
        }
    };
}

// `register_bitfields!` generates items without docs; each register is documented where
// it is declared.
#[allow(missing_docs)]
mod icc_ctlr_el1;
#[allow(missing_docs)]
mod icc_dir_el1;
#[allow(missing_docs)]
mod icc_eoir1_el1;
#[allow(missing_docs)]
mod icc_iar1_el1;
#[allow(missing_docs)]
mod icc_igrpen1_el1;
#[allow(missing_docs)]
mod icc_pmr_el1;
#[allow(missing_docs)]
pub mod icc_sgi1r_el1;
#[allow(missing_docs)]
mod ich_elrsr_el2;
#[allow(missing_docs)]
mod ich_hcr_el2;
#[allow(missing_docs)]
pub mod ich_lr;
#[allow(missing_docs)]
mod ich_misr_el2;
#[allow(missing_docs)]
mod ich_vmcr_el2;

pub use aarch64_cpu::registers::{ICC_SRE_EL2, ICH_VTR_EL2};
pub use icc_ctlr_el1::ICC_CTLR_EL1;
pub use icc_dir_el1::ICC_DIR_EL1;
pub use icc_eoir1_el1::ICC_EOIR1_EL1;
pub use icc_iar1_el1::ICC_IAR1_EL1;
pub use icc_igrpen1_el1::ICC_IGRPEN1_EL1;
pub use icc_pmr_el1::ICC_PMR_EL1;
pub use icc_sgi1r_el1::ICC_SGI1R_EL1;
pub use ich_elrsr_el2::ICH_ELRSR_EL2;
pub use ich_hcr_el2::ICH_HCR_EL2;
pub use ich_lr::ICH_LR;
pub use ich_misr_el2::ICH_MISR_EL2;
pub use ich_vmcr_el2::ICH_VMCR_EL2;

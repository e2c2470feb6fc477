//! The bootable ISO of a GRUB board: GRUB (from Debian's grub-pc-bin) loads the
//! hypervisor ELF by Multiboot2 with the bundle as its module, console on COM1. The same
//! ISO boots Bochs, QEMU (`-cdrom`) and a PC from a USB stick (README, "Boards").

use std::path::Path;
use std::process::Command;

use crate::error::{Context, Error, Result};
use crate::{process, repo};

/// GRUB's configuration: no menu, serial console, one entry.
const GRUB_CFG: &str = "\
set timeout=0
serial --unit=0 --speed=115200
terminfo serial dumb
terminal_input serial
terminal_output serial
menuentry \"Bulkhead\" {
    multiboot2 /boot/bulkhead.elf
    module2 /boot/bundle.bin bundle
    boot
}
";

/// GRUB modules the ISO needs (the minimal set keeps it under 1 MB and boots faster).
const MODULES: &str = "multiboot2 normal serial terminal configfile iso9660 biosdisk part_msdos";

/// Writes `out`: an ISO with `elf`, `bundle` and GRUB.
pub fn write(elf: &Path, bundle: &[u8], out: &Path) -> Result<()> {
    let root = out.with_extension("iso.d");
    let boot = root.join("boot");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(boot.join("grub")).context(|| format!("cannot create {}", repo::show(&boot)))?;
    std::fs::copy(elf, boot.join("bulkhead.elf")).context(|| format!("cannot copy {}", repo::show(elf)))?;
    crate::error::write(&boot.join("bundle.bin"), bundle)?;
    crate::error::write(&boot.join("grub/grub.cfg"), GRUB_CFG.as_bytes())?;
    let mut cmd = Command::new("grub-mkrescue");
    cmd.arg("-o").arg(out).arg(format!("--install-modules={MODULES}")).args(["--locales=", "--fonts=", "--themes="]).arg(&root);
    let output = process::capture(&mut cmd)?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "grub-mkrescue failed ({}): {} (grub-pc-bin, xorriso and mtools come from scripts/setup)",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

//! Device-tree sources to blobs with `dtc`, with its complaint cut down to one line, and
//! the source positions of what is in them.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::process;
use crate::repo;
use crate::source::SourceMap;

/// The first bytes of a device-tree blob (big-endian 0xd00dfeed).
const FDT_MAGIC: [u8; 4] = [0xd0, 0x0d, 0xfe, 0xed];

/// A device tree ready for the parser, and where its pieces were written.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The blob.
    pub dtb: Vec<u8>,
    /// Source positions; `None` for a file that already was a blob.
    pub lines: Option<SourceMap>,
}

/// Reads the device tree at `path`: a blob (it starts with the FDT magic) as it is, a
/// source compiled with [`compile`] and annotated with its source positions.
pub fn load(path: &Path) -> Result<Loaded> {
    let head = std::fs::File::open(path).and_then(|mut f| {
        let mut magic = [0u8; 4];
        std::io::Read::read_exact(&mut f, &mut magic).map(|()| magic)
    });
    if head.is_ok_and(|magic| magic == FDT_MAGIC) {
        let dtb = crate::error::read(path)?;
        return Ok(Loaded { dtb, lines: None });
    }
    let dtb = compile(path)?;
    Ok(Loaded { dtb, lines: Some(annotate(path)?) })
}

/// The source positions of `path`'s nodes and properties (`dtc -O dts -T -T`).
fn annotate(path: &Path) -> Result<SourceMap> {
    let out = process::capture(Command::new("dtc").args(["-q", "-I", "dts", "-O", "dts", "-T", "-T"]).arg(path))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(format!("{}: dtc: {}", repo::show(path), first_error(&stderr))));
    }
    Ok(SourceMap::from_annotated(&String::from_utf8_lossy(&out.stdout)))
}

/// Compiles the DTS file at `path` to a DTB.
///
/// Warnings are silenced (`-q`); an error becomes `<file>: dtc: <first error line>`.
pub fn compile(path: &Path) -> Result<Vec<u8>> {
    if !path.is_file() {
        return Err(Error::new(format!("{}: no such file", repo::show(path))));
    }
    let out = process::capture(
        Command::new("dtc")
            .args(["-q", "-I", "dts", "-O", "dtb"])
            .arg(path),
    )?;
    if out.status.success() && !out.stdout.is_empty() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::new(format!(
        "{}: dtc: {}",
        repo::show(path),
        first_error(&stderr)
    )))
}

/// The most telling line of dtc's stderr: the first `Error:` line, else the first line.
fn first_error(stderr: &str) -> String {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines()
        .find_map(|l| l.strip_prefix("Error: "))
        .or_else(|| lines().next())
        .unwrap_or("failed without a message");
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_error_line() {
        let stderr = "Warning: something\nError: a.dts:3.1-2 syntax error\nFATAL ERROR: Unable to parse input tree\n";
        assert_eq!(first_error(stderr), "a.dts:3.1-2 syntax error");
        assert_eq!(first_error("\nFATAL ERROR: x\n"), "FATAL ERROR: x");
        assert_eq!(first_error(""), "failed without a message");
    }

    #[test]
    fn compiles_and_reports_in_one_line() {
        let dir = std::env::temp_dir().join(format!("bh-dt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.dts");
        std::fs::write(&good, "/dts-v1/;\n/ { compatible = \"x\"; };\n").unwrap();
        assert_eq!(&compile(&good).unwrap()[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        let bad = dir.join("bad.dts");
        std::fs::write(&bad, "/dts-v1/;\n/ { compatible = ; };\n").unwrap();
        let err = compile(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.dts: dtc: ") && err.contains("syntax error"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Static figures: the hypervisor image's sections and the source lines of one build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{self, Error, Result};
use crate::repo;

/// Bytes per kind of section of the hypervisor ELF.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    /// Code (`.text*`).
    pub text: u64,
    /// Read-only data (`.rodata*`).
    pub rodata: u64,
    /// Initialised data (`.data*`, `.got`).
    pub data: u64,
    /// Zeroed data (`.bss*`), stacks excluded.
    pub bss: u64,
    /// Boot stacks (`.stacks`, NOLOAD).
    pub stacks: u64,
}

impl Sections {
    /// What the loader copies: code and data, the bytes in the raw image.
    pub fn loadable(&self) -> u64 {
        self.text + self.rodata + self.data
    }
}

/// The allocated sections of an ELF64 little-endian file, summed by kind.
pub fn elf_sections(elf: &Path) -> Result<Sections> {
    let bytes = error::read(elf)?;
    parse_sections(&bytes).map_err(|why| Error::new(format!("{}: {why}", repo::show(elf))))
}

fn parse_sections(b: &[u8]) -> std::result::Result<Sections, &'static str> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize);
    let u32_at = |o: usize| b.get(o..o + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap_or_default()));
    let u64_at = |o: usize| b.get(o..o + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap_or_default()));
    if b.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF file");
    }
    let shoff = u64_at(0x28).ok_or("truncated header")? as usize;
    let shentsize = u16_at(0x3a).ok_or("truncated header")?;
    let shnum = u16_at(0x3c).ok_or("truncated header")?;
    let shstrndx = u16_at(0x3e).ok_or("truncated header")?;
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 24).ok_or("no section names")? as usize;
    let mut out = Sections::default();
    for i in 1..shnum {
        let h = header(i);
        let name_at = names + u32_at(h).ok_or("truncated section header")? as usize;
        let flags = u64_at(h + 8).ok_or("truncated section header")?;
        let size = u64_at(h + 32).ok_or("truncated section header")?;
        let name = b
            .get(name_at..)
            .and_then(|s| s.split(|&c| c == 0).next())
            .ok_or("bad section name")?;
        const SHF_ALLOC: u64 = 2;
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        let kind = |prefix: &[u8]| name.starts_with(prefix);
        if kind(b".text") {
            out.text += size;
        } else if kind(b".rodata") {
            out.rodata += size;
        } else if kind(b".data") || kind(b".got") {
            out.data += size;
        } else if kind(b".bss") {
            out.bss += size;
        } else if kind(b".stacks") {
            out.stacks += size;
        }
    }
    Ok(out)
}

/// Source lines of one architecture's hypervisor build, per crate.
pub struct Sloc {
    /// `(crate folder, lines)` in build order.
    pub crates: Vec<(String, u64)>,
}

impl Sloc {
    /// All crates together.
    pub fn total(&self) -> u64 {
        self.crates.iter().map(|(_, n)| n).sum()
    }
}

/// The crates of the aarch64 build on qemu-virt-arm64: each crate root, relative to
/// the repository.
pub const AARCH64_BUILD: &[&str] = &[
    "core/src/lib.rs",
    "arch/aarch64/src/lib.rs",
    "drivers/src/lib.rs",
    "boards/qemu-virt-arm64/src/main.rs",
];

/// Counts non-blank, non-comment lines of Rust and assembly in the module tree of each
/// crate root as it is compiled for aarch64: modules behind `#[cfg(test)]` (files and
/// inline `mod … { }` blocks) or another architecture's `cfg` are left out, assembly
/// pulled in with `include_str!` is counted.
pub fn sloc(roots: &[&str]) -> Result<Sloc> {
    let mut crates = Vec::new();
    for root in roots {
        let mut seen = BTreeSet::new();
        let lines = count_module(&repo::root().join(root), true, &mut seen)?;
        let name = root.split("/src/").next().unwrap_or(root).to_string();
        crates.push((name, lines));
    }
    Ok(Sloc { crates })
}

/// Lines of `file` and of the modules it declares. `dir_owner`: the file owns its folder
/// (a crate root or `mod.rs`), so its submodules live beside it.
fn count_module(file: &Path, dir_owner: bool, seen: &mut BTreeSet<PathBuf>) -> Result<u64> {
    if !seen.insert(file.to_path_buf()) {
        return Ok(0);
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", repo::show(file))))?;
    let parent = file.parent().unwrap_or(Path::new("."));
    let sub_dir = match dir_owner {
        true => parent.to_path_buf(),
        false => parent.join(file.file_stem().unwrap_or_default()),
    };
    let scan = scan_rust(&text);
    let mut total = scan.lines;
    for m in &scan.modules {
        let (path, owner) = [
            (sub_dir.join(format!("{m}.rs")), false),
            (sub_dir.join(m).join("mod.rs"), true),
        ]
        .into_iter()
        .find(|(p, _)| p.is_file())
        .ok_or_else(|| Error::new(format!("{}: module `{m}` not found", repo::show(file))))?;
        total += count_module(&path, owner, seen)?;
    }
    for asm in &scan.includes {
        let path = parent.join(asm);
        if seen.insert(path.clone()) {
            total += code_lines(&error::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned())?);
        }
    }
    Ok(total)
}

/// What one Rust file contributes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// Code lines outside test-only blocks.
    lines: u64,
    /// `mod name;` declarations that are compiled for aarch64.
    modules: Vec<String>,
    /// `include_str!("….s")` assembly files.
    includes: Vec<String>,
}

/// Whether a `#[cfg(…)]` attribute holds in a non-test aarch64 build.
fn cfg_holds(attr: &str) -> bool {
    let inner = attr.trim_start_matches("#[cfg(").trim_end_matches(")]");
    match inner {
        "test" => false,
        "not(test)" => true,
        _ if inner.starts_with("target_arch") => inner.contains("\"aarch64\""),
        _ => true,
    }
}

fn scan_rust(text: &str) -> Scan {
    let mut scan = Scan::default();
    let mut skip_depth: Option<i64> = None;
    let mut depth = 0i64;
    let mut excluded = false;
    let mut in_block_comment = false;
    for raw in text.lines() {
        let line = raw.trim();
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if let Some(at) = skip_depth {
            depth += opens - closes;
            if depth <= at {
                skip_depth = None;
            }
            continue;
        }
        if line.starts_with("#[cfg(") {
            excluded = !cfg_holds(line);
        } else if let Some(decl) = module_decl(line) {
            if excluded && line.ends_with('{') {
                skip_depth = Some(depth);
                depth += opens - closes;
                excluded = false;
                continue;
            }
            if !excluded && line.ends_with(';') {
                scan.modules.push(decl.to_string());
            }
            excluded = false;
        } else if !line.starts_with("#[") && !line.is_empty() && !line.starts_with("//") {
            excluded = false;
        }
        if let Some(start) = line.find("include_str!(\"") {
            let rest = &line[start + 14..];
            if let Some(end) = rest.find('"') {
                let file = &rest[..end];
                if file.ends_with(".s") || file.ends_with(".S") {
                    scan.includes.push(file.to_string());
                }
            }
        }
        depth += opens - closes;
        if is_code(line, &mut in_block_comment) {
            scan.lines += 1;
        }
    }
    scan
}

/// `name` of a `[pub[(…)]] mod name;` or `… mod name {` line.
fn module_decl(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("pub ").or_else(|| {
        line.strip_prefix("pub(")
            .and_then(|r| r.split_once(") ").map(|(_, r)| r))
    });
    let rest = rest.unwrap_or(line).strip_prefix("mod ")?;
    let name = rest.trim_end_matches([';', '{', ' ']);
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

/// Non-blank lines that are not only a comment (`//…`, `/* … */`), assembly included.
fn code_lines(text: &str) -> u64 {
    let mut in_block = false;
    text.lines().filter(|l| is_code(l.trim(), &mut in_block)).count() as u64
}

fn is_code(line: &str, in_block: &mut bool) -> bool {
    if *in_block {
        if let Some(end) = line.find("*/") {
            *in_block = false;
            return !line[end + 2..].trim().is_empty();
        }
        return false;
    }
    if line.is_empty() || line.starts_with("//") {
        return false;
    }
    if let Some(rest) = line.strip_prefix("/*") {
        match rest.find("*/") {
            Some(end) => return !rest[end + 2..].trim().is_empty(),
            None => {
                *in_block = true;
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_modules_and_comments_are_not_counted() {
        let text = "//! doc\nmod a;\n#[cfg(test)]\nmod tests;\n#[cfg(target_arch = \"x86_64\")]\nmod x86;\n\nfn f() {\n    // c\n    let x = 1; /* y */\n}\n/* block\n still */\n#[cfg(test)]\nmod t {\n    fn g() {}\n}\nstatic S: u8 = 0;\n";
        let scan = scan_rust(text);
        assert_eq!(scan.modules, ["a"]);
        // Attributes and declarations count; comments, blanks and the test block do not.
        assert_eq!(scan.lines, 10);
    }

    #[test]
    fn assembly_comments_are_not_counted() {
        assert_eq!(code_lines("// c\n    mov x0, x1\n\n/* a\n b */\nret\n"), 2);
    }

    #[test]
    fn the_aarch64_build_has_lines() {
        let sloc = sloc(AARCH64_BUILD).unwrap();
        assert_eq!(sloc.crates.len(), 4);
        assert!(sloc.crates.iter().all(|(_, n)| *n > 0));
    }

    #[test]
    fn reads_the_sections_of_this_test_binary() {
        let me = std::env::current_exe().unwrap();
        let s = elf_sections(&me).unwrap();
        assert!(s.text > 0);
    }
}

//! Disk tables: each rejection, and a real image whose file reads back with `debugfs`.

use std::process::Command;

use super::*;

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const PATH: &str = "target/scenarios/disks/t.img";

fn extra() -> Vec<String> {
    vec![
        "-drive".into(),
        format!("file={PATH},if=none,format=raw,id=d0"),
    ]
}

fn rejected(path: &str, size: u32, f: BTreeMap<String, String>, needle: &str) {
    match Disk::new(2, path, size, f, &extra()) {
        Err(e) => assert!(e.contains(needle), "error `{e}` lacks `{needle}`"),
        Ok(d) => panic!("accepted, expected an error about `{needle}`: {d:?}"),
    }
}

#[test]
fn a_valid_table() {
    let d = Disk::new(0, PATH, 4, files(&[("hello.txt", "hi")]), &extra()).unwrap();
    assert_eq!(d.path, Path::new(PATH));
    assert_eq!(d.files["hello.txt"], "hi");
}

#[test]
fn each_rejection_names_its_field() {
    let ok = || files(&[("a.txt", "x")]);
    for bad in [
        "/tmp/d.img",
        "disks/d.img",
        "target",
        "target/../d.img",
        "target/./d.img",
    ] {
        rejected(bad, 4, ok(), "disk[2].path: ");
    }
    rejected(
        "target/other.img",
        4,
        ok(),
        "disk[2].path: `target/other.img` is not attached",
    );
    rejected(PATH, 0, ok(), "disk[2].size_mib: 0 is outside");
    rejected(PATH, MAX_SIZE_MIB + 1, ok(), "disk[2].size_mib");
    rejected(PATH, 4, files(&[]), "disk[2].files: empty");
    for name in ["", "../x", "a/b", ".hidden", "sp ace"] {
        rejected(PATH, 4, files(&[(name, "x")]), "is not a plain file name");
    }
}

/// Makes an image in a scratch root and reads the file back with debugfs (also from
/// e2fsprogs), so the bytes the guest will see are checked without a mount.
#[test]
fn made_image_holds_the_files() {
    let root = std::env::temp_dir().join(format!("bulkhead-disk-{}", std::process::id()));
    let disk = Disk::new(
        0,
        PATH,
        2,
        files(&[("hello.txt", "disk says hi\n"), ("b.txt", "second")]),
        &extra(),
    )
    .unwrap();
    // Twice: a second run replaces the first image.
    disk.make(&root).unwrap();
    disk.make(&root).unwrap();
    let image = root.join(PATH);
    let debugfs = mke2fs_program().with_file_name("debugfs");
    let cat = |name: &str| {
        let out = Command::new(&debugfs)
            .args(["-R", &format!("cat /{name}")])
            .arg(&image)
            .output()
            .expect("debugfs (e2fsprogs) runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cat("hello.txt"), "disk says hi\n");
    assert_eq!(cat("b.txt"), "second");
    assert!(
        !image.with_extension("files").exists(),
        "staging folder left behind"
    );
    let _ = std::fs::remove_dir_all(&root);
}

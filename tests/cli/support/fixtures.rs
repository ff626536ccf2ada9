//! The test images (built by tests/fixtures scripts, cached) and what
//! reads their insides: qcow2 to raw, debugfs, a byte search.

use super::repo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The fixture images built so far in this process, by script.
fn built() -> std::sync::MutexGuard<'static, BTreeMap<String, PathBuf>> {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    BUILT.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test fixture image, built by its script in tests/fixtures (cached by
/// the script's hash, so only the first call in a fresh CI pays for it).
pub fn fixture(script: &str) -> PathBuf {
    let mut built = built();
    if let Some(p) = built.get(script) {
        return p.clone();
    }
    let out = Command::new(repo().join("tests/fixtures").join(script))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the fixture script runs");
    assert!(out.status.success(), "tests/fixtures/{script} failed");
    let path = PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    );
    assert!(path.exists(), "{} missing", path.display());
    built.insert(script.to_owned(), path.clone());
    path
}

/// Every fixture image built so far, as (script, path): their paths
/// depend on the machine and on the script's hash.
pub fn built_fixtures() -> Vec<(String, PathBuf)> {
    built()
        .iter()
        .map(|(s, p)| (s.clone(), p.clone()))
        .collect()
}

/// The SHA-256 a fixture's sidecar records.
pub fn fixture_sha256(image: &Path) -> String {
    let sidecar = std::fs::read_to_string(format!("{}.sha256", image.display())).unwrap();
    sidecar.split_whitespace().next().unwrap().to_owned()
}

/// Whether `needle` occurs anywhere in the file's bytes. GNU grep, because a
/// byte-by-byte scan of a multi-GiB disk in a debug build takes many minutes;
/// on binary data grep splits at NUL bytes and skips sparse holes.
pub fn file_contains(path: &Path, needle: &str) -> bool {
    let st = Command::new("grep")
        .args(["-q", "-F", "-e", needle, "--"])
        .arg(path)
        .status()
        .unwrap();
    match st.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("grep failed on {}: {st}", path.display()),
    }
}

/// Read a file from the root filesystem (partition 1, at 1 MiB) of a raw
/// disk image with debugfs, without mounting it. `None` if it is not there.
pub fn debugfs_cat(raw: &Path, path: &str) -> Option<String> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(format!("{}?offset=1048576", raw.display()))
        .output()
        .expect("debugfs is installed (e2fsprogs)");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File not found") {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ls` of a directory in the image; `None` if it does not exist.
pub fn debugfs_ls(raw: &Path, path: &str) -> Option<Vec<String>> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("ls -p {path}")])
        .arg(format!("{}?offset=1048576", raw.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File not found") {
        return None;
    }
    // ls -p lines: /inode/mode/uid/gid/name/size/
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('/').nth(5).map(str::to_owned))
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect(),
    )
}

/// Convert a qcow2 to raw next to `dir`.
pub fn to_raw(qcow2: &Path, dir: &Path) -> PathBuf {
    let raw = dir.join(format!(
        "{}.raw",
        qcow2.file_stem().unwrap().to_string_lossy()
    ));
    let st = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(qcow2)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    raw
}

//! The snapshot step: the overlay converted into a standalone compressed
//! qcow2, checked with `qemu-img check`, its SHA-256 recorded.

use crate::files::TempPath;
use crate::files::digest::sha256_file;
use crate::host::qemu_img;
use crate::model::Compression;
use crate::step::CancelToken;
use crate::step::StepResult;
use camino::Utf8Path;

/// Convert `overlay` into `out` (through `<out>.partial`, so `out` only
/// ever holds a checked image); its SHA-256 and size.
pub fn snapshot(
    overlay: &Utf8Path,
    out: &Utf8Path,
    compression: Compression,
    log: &Utf8Path,
    cancel: &CancelToken,
) -> StepResult<(String, u64)> {
    let partial = TempPath::new(format!("{out}.partial"));
    let _ = std::fs::remove_file(partial.path());
    qemu_img::convert(compression, overlay, partial.path(), log, cancel)?;
    let (sha256, size) = sha256_file(partial.path(), cancel)?;
    partial.rename_to(out)?.keep();
    Ok((sha256, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_checks_and_hashes_a_real_image() {
        let dir = tempfile::tempdir().unwrap();
        let d = camino::Utf8Path::from_path(dir.path()).unwrap();
        let src = d.join("src.qcow2");
        let st = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", src.as_str(), "64M"])
            .status()
            .unwrap();
        assert!(st.success());
        let (sha256, size) = snapshot(
            &src,
            &d.join("out.qcow2"),
            Compression::Zstd,
            &d.join("log"),
            &CancelToken::new(),
        )
        .unwrap();
        assert!(d.join("out.qcow2").exists());
        assert!(!d.join("out.qcow2.partial").exists());
        assert_eq!(size, std::fs::metadata(d.join("out.qcow2")).unwrap().len());
        assert_eq!(sha256.len(), 64);
    }
}

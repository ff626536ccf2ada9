//! The snapshot step: the overlay converted into a standalone compressed
//! qcow2, checked with `qemu-img check`, its SHA-256 recorded.

use crate::cancel::CancelToken;
use crate::digest::sha256_file;
use crate::host::process::run_logged;
use crate::model::Compression;
use crate::step_error::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub path: Utf8PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// `qemu-img convert` arguments for a compression setting.
pub fn convert_args(compression: Compression, from: &Utf8Path, to: &Utf8Path) -> Vec<String> {
    let mut args: Vec<String> = ["convert", "-O", "qcow2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match compression {
        Compression::None => {}
        Compression::Zlib => args.extend(["-c", "-o", "compression_type=zlib"].map(String::from)),
        Compression::Zstd => args.extend(["-c", "-o", "compression_type=zstd"].map(String::from)),
    }
    args.push(from.to_string());
    args.push(to.to_string());
    args
}

pub fn snapshot(
    overlay: &Utf8Path,
    out: &Utf8Path,
    compression: Compression,
    log: &Utf8Path,
    cancel: &CancelToken,
) -> StepResult<Snapshot> {
    let partial = Utf8PathBuf::from(format!("{out}.partial"));
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let limit = Some(Duration::from_secs(2 * 3600));
        run_logged(
            "qemu-img",
            &convert_args(compression, overlay, &partial),
            log,
            limit,
            cancel,
        )?;
        run_logged(
            "qemu-img",
            &["check".to_owned(), "-q".to_owned(), partial.to_string()],
            log,
            limit,
            cancel,
        )?;
        let (sha256, size) = sha256_file(&partial, cancel)?;
        std::fs::rename(&partial, out)
            .map_err(|e| StepError::io(format!("failed to rename {partial}"), &e))?;
        Ok(Snapshot {
            path: out.to_owned(),
            sha256,
            size,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_flags() {
        let a = convert_args(Compression::Zstd, "a".into(), "b".into()).join(" ");
        assert_eq!(a, "convert -O qcow2 -c -o compression_type=zstd a b");
        let z = convert_args(Compression::Zlib, "a".into(), "b".into()).join(" ");
        assert_eq!(z, "convert -O qcow2 -c -o compression_type=zlib a b");
        let n = convert_args(Compression::None, "a".into(), "b".into()).join(" ");
        assert_eq!(n, "convert -O qcow2 a b");
    }

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
        let snap = snapshot(
            &src,
            &d.join("out.qcow2"),
            Compression::Zstd,
            &d.join("log"),
            &CancelToken::new(),
        )
        .unwrap();
        assert!(snap.path.exists());
        assert!(!d.join("out.qcow2.partial").exists());
        assert_eq!(snap.size, std::fs::metadata(&snap.path).unwrap().len());
        assert_eq!(snap.sha256.len(), 64);
    }
}

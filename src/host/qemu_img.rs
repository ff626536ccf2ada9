//! `qemu-img`: what an image is, overlays on a base, standalone copies.

use crate::host::process::run_logged;
use crate::model::Compression;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::Utf8Path;
use std::time::Duration;

/// Longest a conversion of one image may take.
const CONVERT_LIMIT: Duration = Duration::from_secs(2 * 3600);

/// `qemu-img info`: the format and virtual size. Images with a backing file
/// are refused: a downloaded image must not make qemu open host files.
pub fn base_info(path: &Utf8Path) -> StepResult<(String, u64)> {
    let output = duct::cmd("qemu-img", ["info", "-U", "--output=json", path.as_str()])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| StepError::permanent(format!("failed to run qemu-img: {e}")))?;
    let not_image = |why: &str| StepError::permanent(format!("{path} is not a disk image: {why}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(not_image(why.trim()));
    }
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| not_image(&format!("unreadable qemu-img output: {e}")))?;
    let format = info["format"]
        .as_str()
        .ok_or_else(|| not_image("qemu-img reported no format"))?;
    let size = info["virtual-size"]
        .as_u64()
        .ok_or_else(|| not_image("qemu-img reported no virtual size"))?;
    if let Some(backing) = info["backing-filename"].as_str() {
        return Err(StepError::permanent(format!(
            "{path} has a backing file (`{backing}`); a base must be self-contained"
        )));
    }
    Ok((format.to_owned(), size))
}

/// A qcow2 overlay at `overlay` backed by `base` (no copy), of `size`
/// bytes when given (growing the disk), else the base's size.
pub fn create_overlay(
    base: &Utf8Path,
    base_format: &str,
    overlay: &Utf8Path,
    size: Option<u64>,
    log: &Utf8Path,
    cancel: &CancelToken,
) -> StepResult<()> {
    let mut args: Vec<String> = ["create", "-q", "-f", "qcow2", "-F", base_format, "-b"]
        .map(String::from)
        .to_vec();
    args.push(base.to_string());
    args.push(overlay.to_string());
    if let Some(size) = size {
        args.push(size.to_string());
    }
    run_logged(
        "qemu-img",
        &args,
        log,
        Some(Duration::from_secs(60)),
        cancel,
    )
}

/// A standalone qcow2 copy of `from` (backing files flattened) at `to`,
/// compressed as asked, then `qemu-img check`ed.
pub fn convert(
    compression: Compression,
    from: &Utf8Path,
    to: &Utf8Path,
    log: &Utf8Path,
    cancel: &CancelToken,
) -> StepResult<()> {
    let limit = Some(CONVERT_LIMIT);
    run_logged(
        "qemu-img",
        &convert_args(compression, from, to),
        log,
        limit,
        cancel,
    )?;
    run_logged(
        "qemu-img",
        &["check".to_owned(), "-q".to_owned(), to.to_string()],
        log,
        limit,
        cancel,
    )
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
}

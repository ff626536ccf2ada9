use crate::cancel::CancelToken;
use crate::step_error::{StepError, StepResult};
use camino::Utf8Path;
use sha2::{Digest, Sha256};
use std::io::Read;

/// SHA-256 (hex) and size of a file, read in bounded chunks.
pub fn sha256_file(path: &Utf8Path, cancel: &CancelToken) -> StepResult<(String, u64)> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| StepError::io(format!("failed to open {path}"), &e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        cancel.check()?;
        let n = file
            .read(&mut buf)
            .map_err(|e| StepError::io(format!("failed to read {path}"), &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// SHA-256 (hex) of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

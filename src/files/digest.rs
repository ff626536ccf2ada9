//! SHA-256 of files and streams, computed while the bytes are copied: every
//! copy of an image in pipeline goes through [`copy_hashing`], with one
//! fixed buffer whatever the size.

use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::Utf8Path;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// Size of the one buffer a copy uses.
const CHUNK: usize = 1 << 20;

/// Why a copy stopped.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Cancelled,
}

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub sha256: String,
    pub size: u64,
}

/// Read `src` to its end (or past `max` bytes: then the size tells), hash
/// it, write every chunk to `dest` when given, poll `cancel` and report the
/// bytes done after each chunk.
pub fn copy_hashing(
    src: &mut dyn Read,
    mut dest: Option<&mut dyn Write>,
    max: Option<u64>,
    cancel: &CancelToken,
    progress: &dyn Fn(u64),
) -> Result<Copied, CopyError> {
    let mut buf = vec![0u8; CHUNK];
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(CopyError::Cancelled);
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        if let Some(dest) = dest.as_deref_mut() {
            dest.write_all(&buf[..n]).map_err(CopyError::Write)?;
        }
        size += n as u64;
        progress(size);
        if max.is_some_and(|max| size > max) {
            break;
        }
    }
    Ok(Copied {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// SHA-256 (hex) and size of a file.
pub fn sha256_file(path: &Utf8Path, cancel: &CancelToken) -> StepResult<(String, u64)> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| StepError::io(format!("failed to open {path}"), &e))?;
    match copy_hashing(&mut file, None, None, cancel, &|_| {}) {
        Ok(c) => Ok((c.sha256, c.size)),
        Err(CopyError::Cancelled) => Err(StepError::cancelled()),
        Err(CopyError::Read(e) | CopyError::Write(e)) => {
            Err(StepError::io(format!("failed to read {path}"), &e))
        }
    }
}

/// SHA-256 (hex) of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_hashes_and_stops_past_the_limit() {
        let data = vec![7u8; 3 * CHUNK + 5];
        let mut out = Vec::new();
        let done = std::cell::Cell::new(0);
        let c = copy_hashing(
            &mut &data[..],
            Some(&mut out),
            None,
            &CancelToken::new(),
            &|n| done.set(n),
        )
        .unwrap();
        assert_eq!(c.size, data.len() as u64);
        assert_eq!(c.sha256, sha256_bytes(&data));
        assert_eq!(out, data);
        assert_eq!(done.get(), data.len() as u64);
        let c = copy_hashing(&mut &data[..], None, Some(10), &CancelToken::new(), &|_| {}).unwrap();
        assert_eq!(c.size, CHUNK as u64, "one chunk past the limit");
        let cancel = CancelToken::new();
        cancel.cancel();
        assert!(matches!(
            copy_hashing(&mut &data[..], None, None, &cancel, &|_| {}),
            Err(CopyError::Cancelled)
        ));
    }
}

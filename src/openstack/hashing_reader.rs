use crate::step::CancelToken;
use crate::step::StepError;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

/// Progress is reported at most once per this many bytes (and at the end).
const PROGRESS_EVERY: u64 = 4 << 20;
/// Chunks the hashing thread may lag behind the upload.
const HASH_BACKLOG: usize = 8;

/// The body of an upload to Glance: reads exactly `size` bytes into
/// the HTTP client's own buffer (so memory does not grow with the image),
/// reporting progress and polling the cancel token on every read. A thread
/// of its own hashes a copy of each chunk while the next one is sent:
/// SHA-256 for our metadata, SHA-512 to compare with the `os_hash_value`
/// Glance computes (its default algorithm), and MD5 (Glance's `checksum`)
/// only when asked: for a Glance too old to have `os_hash_value`. MD5 is
/// the slowest of the three, and with the transfer and Glance on two cores
/// every CPU-second shows in the throughput.
///
/// It fails the read, and so the request, when the run is cancelled, the
/// artifact cannot be read or has another size, or — before the last chunk
/// goes out, so Glance never gets a complete image — when the SHA-256 is
/// not the expected one. `failure` then says why.
pub struct HashingReader<'a> {
    file: Box<dyn Read + Send>,
    /// The artifact, for messages.
    path: String,
    size: u64,
    /// `None`: any, it is recorded afterwards.
    expected_sha256: Option<String>,
    sent: u64,
    /// Chunks to the hashing thread; `None` once it is told to finish.
    chunks: Option<SyncSender<Vec<u8>>>,
    /// Chunks it is done with, to be filled again.
    spare: Receiver<Vec<u8>>,
    hasher: Option<JoinHandle<(String, Option<String>, String)>>,
    cancel: &'a CancelToken,
    progress: &'a dyn Fn(u64),
    reported: u64,
    /// Why the reader stopped the upload.
    pub failure: Option<StepError>,
    /// Hex SHA-256, MD5 (when asked for) and SHA-512, once every byte was
    /// read and checked.
    pub digests: Option<(String, Option<String>, String)>,
}

impl<'a> HashingReader<'a> {
    /// `file` holds `size` bytes of what `path` names (for messages), with
    /// `expected_sha256` when it is known.
    pub fn new(
        file: Box<dyn Read + Send>,
        path: String,
        size: u64,
        expected_sha256: Option<String>,
        with_md5: bool,
        cancel: &'a CancelToken,
        progress: &'a dyn Fn(u64),
    ) -> Result<Self, StepError> {
        let (chunks, incoming) = sync_channel::<Vec<u8>>(HASH_BACKLOG);
        let (done, spare) = channel::<Vec<u8>>();
        let hasher = std::thread::Builder::new()
            .name("upload-hash".into())
            .spawn(move || {
                let (mut sha256, mut sha512) = (Sha256::new(), Sha512::new());
                let mut md5 = with_md5.then(Md5::new);
                for chunk in incoming {
                    sha256.update(&chunk);
                    sha512.update(&chunk);
                    if let Some(md5) = &mut md5 {
                        md5.update(&chunk);
                    }
                    let _ = done.send(chunk);
                }
                (
                    hex::encode(sha256.finalize()),
                    md5.map(|m| hex::encode(m.finalize())),
                    hex::encode(sha512.finalize()),
                )
            })
            .map_err(|e| StepError::permanent(format!("failed to start a thread: {e}")))?;
        Ok(Self {
            file,
            path,
            size,
            expected_sha256,
            sent: 0,
            chunks: Some(chunks),
            spare,
            hasher: Some(hasher),
            cancel,
            progress,
            reported: 0,
            failure: None,
            digests: None,
        })
    }

    /// Bytes handed to the client so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn fail(&mut self, error: StepError) -> io::Error {
        let e = io::Error::other(error.message.clone());
        self.failure = Some(error);
        e
    }

    /// A copy of `bytes` to the hashing thread (in a recycled buffer).
    fn hash(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut chunk = self.spare.try_recv().unwrap_or_default();
        chunk.clear();
        chunk.extend_from_slice(bytes);
        let sent = self.chunks.as_ref().is_some_and(|c| c.send(chunk).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.fail(StepError::permanent(format!(
                "failed to hash {}: the hashing thread stopped",
                self.path
            ))))
        }
    }

    /// The digests, once the hashing thread has caught up.
    fn join(&mut self) -> Option<(String, Option<String>, String)> {
        self.chunks = None;
        self.hasher.take()?.join().ok()
    }

    /// After the last byte: no more bytes in the file, and the right SHA-256.
    fn finish(&mut self) -> io::Result<()> {
        let mut probe = [0u8; 1];
        let extra = loop {
            match self.file.read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match extra {
            Ok(0) => {}
            Ok(_) => {
                return Err(self.fail(StepError::permanent(format!(
                    "size mismatch uploading {}: expected {} bytes, the file is longer",
                    self.path, self.size
                ))));
            }
            Err(e) => {
                return Err(self.fail(StepError::io(
                    format_args!("failed to read {}", self.path),
                    &e,
                )));
            }
        }
        let Some((sha256, md5, sha512)) = self.join() else {
            return Err(self.fail(StepError::permanent(format!(
                "failed to hash {}: the hashing thread failed",
                self.path
            ))));
        };
        if let Some(expected) = &self.expected_sha256
            && !sha256.eq_ignore_ascii_case(expected)
        {
            return Err(self.fail(StepError::permanent(format!(
                "checksum mismatch uploading {}: expected sha256 {expected}, got {sha256}",
                self.path
            ))));
        }
        self.digests = Some((sha256, md5, sha512));
        Ok(())
    }
}

impl Drop for HashingReader<'_> {
    fn drop(&mut self) {
        self.join();
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failure {
            return Err(io::Error::other(f.message.clone()));
        }
        if self.cancel.is_cancelled() {
            return Err(self.fail(StepError::cancelled()));
        }
        let remaining = self.size - self.sent;
        if remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = loop {
            match self.file.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(self.fail(StepError::io(
                        format_args!("failed to read {}", self.path),
                        &e,
                    )));
                }
                Ok(n) => break n,
            }
        };
        if n == 0 {
            return Err(self.fail(StepError::permanent(format!(
                "size mismatch uploading {}: expected {} bytes, the file has {}",
                self.path, self.size, self.sent
            ))));
        }
        self.hash(&buf[..n])?;
        self.sent += n as u64;
        if self.sent == self.size {
            self.finish()?;
        }
        if self.sent == self.size || self.sent - self.reported >= PROGRESS_EVERY {
            self.reported = self.sent;
            (self.progress)(self.sent);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::StepErrorKind;
    use camino::Utf8PathBuf;

    fn file(bytes: &[u8]) -> (tempfile::TempDir, Utf8PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(tmp.path().join("img")).unwrap();
        std::fs::write(&path, bytes).unwrap();
        (tmp, path)
    }

    fn reader<'a>(
        path: &Utf8PathBuf,
        size: u64,
        sha: &str,
        md5: bool,
        cancel: &'a CancelToken,
        progress: &'a dyn Fn(u64),
    ) -> HashingReader<'a> {
        let file = Box::new(std::fs::File::open(path).unwrap());
        HashingReader::new(
            file,
            path.to_string(),
            size,
            Some(sha.to_owned()),
            md5,
            cancel,
            progress,
        )
        .unwrap()
    }

    fn drain(r: &mut HashingReader) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1000];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn hashes_what_it_hands_out() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (_t, path) = file(&bytes);
        let sha = hex::encode(Sha256::digest(&bytes));
        let cancel = CancelToken::new();
        let seen = std::cell::Cell::new(0);
        let progress = |b| seen.set(b);
        let mut r = reader(&path, bytes.len() as u64, &sha, true, &cancel, &progress);
        assert_eq!(drain(&mut r).unwrap(), bytes);
        let (s256, md5, s512) = r.digests.clone().unwrap();
        assert_eq!(s256, sha);
        assert_eq!(
            md5.as_deref(),
            Some(hex::encode(Md5::digest(&bytes)).as_str())
        );
        assert_eq!(s512, hex::encode(Sha512::digest(&bytes)));
        assert_eq!(seen.get(), 10_000);
        assert!(r.failure.is_none());
    }

    #[test]
    fn md5_only_when_asked() {
        let bytes = vec![3u8; 5000];
        let (_t, path) = file(&bytes);
        let sha = hex::encode(Sha256::digest(&bytes));
        let cancel = CancelToken::new();
        let mut r = reader(&path, 5000, &sha, false, &cancel, &|_| {});
        drain(&mut r).unwrap();
        let (s256, md5, s512) = r.digests.clone().unwrap();
        assert_eq!((s256, md5), (sha.clone(), None));
        assert_eq!(s512, hex::encode(Sha512::digest(&bytes)));
    }

    #[test]
    fn a_wrong_checksum_withholds_the_last_chunk() {
        let bytes = vec![7u8; 2500];
        let (_t, path) = file(&bytes);
        let cancel = CancelToken::new();
        let wrong = "0".repeat(64);
        let mut r = reader(&path, 2500, &wrong, false, &cancel, &|_| {});
        let mut buf = vec![0u8; 1000];
        assert_eq!(r.read(&mut buf).unwrap(), 1000);
        assert_eq!(r.read(&mut buf).unwrap(), 1000);
        assert!(r.read(&mut buf).is_err());
        let f = r.failure.clone().unwrap();
        assert_eq!(f.kind, StepErrorKind::Permanent);
        assert!(
            f.message.starts_with("checksum mismatch uploading "),
            "{}",
            f.message
        );
        assert!(r.digests.is_none());
    }

    #[test]
    fn size_mismatches_and_cancellation() {
        let bytes = vec![1u8; 3000];
        let (_t, path) = file(&bytes);
        let sha = hex::encode(Sha256::digest(&bytes));
        let cancel = CancelToken::new();
        let mut long = reader(&path, 4000, &sha, false, &cancel, &|_| {});
        assert!(drain(&mut long).is_err());
        assert!(
            long.failure
                .take()
                .unwrap()
                .message
                .contains("the file has 3000")
        );
        let mut short = reader(&path, 2000, &sha, false, &cancel, &|_| {});
        assert!(drain(&mut short).is_err());
        assert!(
            short
                .failure
                .take()
                .unwrap()
                .message
                .contains("the file is longer")
        );

        let mut r = reader(&path, 3000, &sha, false, &cancel, &|_| {});
        let mut buf = vec![0u8; 1000];
        assert_eq!(r.read(&mut buf).unwrap(), 1000);
        cancel.cancel();
        assert!(r.read(&mut buf).is_err());
        assert_eq!(r.failure, Some(StepError::cancelled()));
        assert_eq!(r.sent(), 1000);
    }
}

//! Opening a file from a path a user gave (a recipe, a template, an env
//! file, `SHA256SUMS`, `clouds.yaml`, a base image): only a regular file is
//! read. A FIFO would hang the open or the read, `/dev/zero` would fill
//! memory, a directory or a device means a mistake.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most text pipeline reads from one such file. Far above any real
/// recipe, template, env file, `SHA256SUMS` or `clouds.yaml` (tens of KiB),
/// far below what would strain memory.
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// A regular file, open for reading.
#[derive(Debug)]
pub struct RegularFile {
    pub file: File,
    /// Its size when it was opened.
    pub len: u64,
}

impl RegularFile {
    /// Open `path` without blocking (a FIFO with no writer opens at once
    /// instead of hanging) and check what was opened, through the open
    /// descriptor: a check of the path before opening could be raced.
    pub fn open(path: &Path) -> io::Result<RegularFile> {
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(path)?;
        let meta = file.metadata()?;
        let kind = meta.file_type();
        let what = if kind.is_file() {
            None
        } else if kind.is_dir() {
            Some("a directory")
        } else if kind.is_fifo() {
            Some("a FIFO")
        } else if kind.is_char_device() {
            Some("a character device")
        } else if kind.is_block_device() {
            Some("a block device")
        } else if kind.is_socket() {
            Some("a socket")
        } else {
            Some("not a file")
        };
        if let Some(what) = what {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a regular file ({what})"),
            ));
        }
        // Reads of a regular file never block; clear the flag all the same,
        // so that the file behaves as any other wherever it goes.
        rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
        Ok(RegularFile {
            len: meta.len(),
            file,
        })
    }

    /// The whole file as UTF-8 text, refused if it is larger than `limit`
    /// bytes.
    pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
        String::from_utf8(Self::read_bytes(path, limit)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
    }

    /// The whole file, refused if it is larger than `limit` bytes (also if
    /// it grows past that while it is read).
    pub fn read_bytes(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let opened = Self::open(path)?;
        let too_large = || {
            io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than {}, the limit", human_size(limit)),
            )
        };
        if opened.len > limit {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(opened.len as usize);
        opened.file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

/// `16 MiB`, `512 KiB`, `100 bytes`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &Path) -> String {
        RegularFile::read_text(path, 8).unwrap_err().to_string()
    }

    #[test]
    fn reads_a_regular_file_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, "12345678").unwrap();
        assert_eq!(RegularFile::read_text(&path, 8).unwrap(), "12345678");
        std::fs::write(&path, "123456789").unwrap();
        assert_eq!(error(&path), "larger than 8 bytes, the limit");
        std::fs::write(&path, b"\xff").unwrap();
        assert_eq!(error(&path), "not UTF-8 text");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(error(&fifo), "not a regular file (a FIFO)");
        assert_eq!(error(dir.path()), "not a regular file (a directory)");
        assert_eq!(
            error(Path::new("/dev/zero")),
            "not a regular file (a character device)"
        );
        // Through a link, what counts is what it points to.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert_eq!(error(&link), "not a regular file (a FIFO)");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(16 << 20), "16 MiB");
        assert_eq!(human_size(512 << 10), "512 KiB");
        assert_eq!(human_size(100), "100 bytes");
    }
}

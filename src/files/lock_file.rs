use std::fs::{File, OpenOptions};
use std::path::Path;

/// Open (or create) a file that is locked with `flock`: read and write,
/// never truncated (it may hold what its holder wrote, such as who it is).
pub fn open_lock_file(path: impl AsRef<Path>) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

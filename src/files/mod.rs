//! Files: reading only regular files of bounded size, writing aside and
//! renaming into place, hashing while copying, and the source files that
//! diagnostics quote.

pub mod digest;
mod lock_file;
mod regular_file;
mod source_file;
mod temp_file;

pub use lock_file::open_lock_file;

/// An I/O error as a user reads it: a missing file is "no such file".
pub fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}
pub use regular_file::{MAX_TEXT_BYTES, RegularFile, human_size};
pub use source_file::SourceFile;
pub use temp_file::{TempFile, TempPath, sync_dir};

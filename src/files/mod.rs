//! Files: reading only regular files of bounded size, writing aside and
//! renaming into place, hashing while copying, and the source files that
//! diagnostics quote.

pub mod digest;
mod lock_file;
mod regular_file;
mod source_file;
mod temp_file;

pub use lock_file::open_lock_file;
pub use regular_file::{MAX_TEXT_BYTES, RegularFile, human_size};
pub use source_file::SourceFile;
pub use temp_file::{TempFile, TempPath, sync_dir};

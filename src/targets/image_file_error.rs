//! What is wrong with a directory target's `<n>.qcow2`.

use super::size_against;
use std::io;

/// Messages fit in `damaged (…)`.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("{file_name} is missing")]
    Missing { file_name: String },
    #[error("{file_name} cannot be read: {error}")]
    Unreadable { file_name: String, error: io::Error },
    /// `kind`: what it is instead (`a directory`, …).
    #[error("{file_name} is {kind}")]
    NotAFile {
        file_name: String,
        kind: &'static str,
    },
    #[error("{file_name} has {}", size_against(*.has, *.expected))]
    WrongSize {
        file_name: String,
        has: u64,
        expected: u64,
    },
}

//! Why a directory target's `<n>.json` cannot be read as a revision.

use super::human_size;
use std::io;

/// Messages fit after `<path>: `, in a warning that skips the file.
#[derive(Debug, thiserror::Error)]
pub enum RevisionFileError {
    #[error("cannot be read ({error})")]
    Unreadable { error: io::Error },
    #[error("a symbolic link to nothing readable ({error})")]
    DanglingLink { error: io::Error },
    /// `kind`: what it is (`a FIFO`, `a directory`, …), or what the
    /// symbolic link it is leads to.
    #[error("not a regular file ({}{kind})", if *.through_link { "a symbolic link to " } else { "" })]
    NotRegular {
        kind: &'static str,
        through_link: bool,
    },
    #[error(
        "too big for a revision's metadata ({}; at most {})",
        human_size(*.len),
        human_size(*.limit)
    )]
    TooBig { len: u64, limit: u64 },
    #[error("not a revision's metadata (not UTF-8)")]
    NotUtf8,
    #[error("not a revision's metadata ({error})")]
    NotMetadata { error: serde_json::Error },
}

/// Why a recipe string is not something to fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("must not be empty")]
    Empty,
    #[error("unsupported scheme `{scheme}://`; use http(s)://, file:// or a path")]
    Scheme { scheme: String },
}

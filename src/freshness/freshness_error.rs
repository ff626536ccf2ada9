/// Why what a run needs to do cannot be decided, or a cached snapshot
/// cannot be reused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshnessError {
    /// A cell's script does not render (the rendering's diagnostic).
    #[error("{0}")]
    Render(String),
    #[error("no digest resolved for base `{base}`")]
    NoDigest { base: String },
    #[error("failed to list images on target `{target}`: {message}")]
    List { target: String, message: String },
    /// Removed from the cache; the cell is built again.
    #[error(
        "the cached snapshot {path} is damaged ({problem}): removed it; the cell is built again"
    )]
    DamagedSnapshot {
        path: camino::Utf8PathBuf,
        problem: String,
    },
}

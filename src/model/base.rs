use super::Resource;
use serde::Serialize;

/// A base cloud image, verified before any cell uses it.
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    pub name: String,
    pub source: Resource,
    pub checksum: Checksum,
    pub os_distro: Option<String>,
    pub os_version: Option<String>,
}

/// How a base's SHA-256 is known.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    /// Written in the recipe.
    Sha256(String),
    /// Looked up, on every run, in a `SHA256SUMS` file under the image's file name.
    Sums(Resource),
}

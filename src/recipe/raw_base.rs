use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[bases.<name>]`: a cloud image that cells start from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBase {
    /// `https://…`, `http://…`, `file://…` or a path relative to the recipe.
    pub url: Spanned<String>,
    /// The expected SHA-256 of the image, in hex.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    /// A `SHA256SUMS` file (URL or path) that lists the image's file name.
    #[serde(default)]
    pub sha256sums: Option<Spanned<String>>,
}

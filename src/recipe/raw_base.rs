use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[bases.<name>]`: a cloud image that cells start from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "title": "checksum written", "required": ["sha256"] },
    { "title": "checksum looked up", "required": ["sha256sums"] },
]))]
pub struct RawBase {
    /// `https://…`, `http://…`, `file://…` or a path relative to the recipe.
    #[schemars(pattern(rules::RESOURCE))]
    pub url: Spanned<String>,
    /// The expected SHA-256 of the image, in hex. Set this or `sha256sums`.
    #[serde(default)]
    #[schemars(pattern(rules::SHA256))]
    pub sha256: Option<Spanned<String>>,
    /// A `SHA256SUMS` file (URL or path) that lists the image's file name.
    /// Set this or `sha256`.
    #[serde(default)]
    #[schemars(pattern(rules::RESOURCE))]
    pub sha256sums: Option<Spanned<String>>,
    /// The OS, as Glance's `os_distro` property names it (`ubuntu`, `debian`).
    #[serde(default)]
    pub os_distro: Option<Spanned<String>>,
    /// The OS version, as Glance's `os_version` (`24.04`).
    #[serde(default)]
    pub os_version: Option<Spanned<String>>,
}

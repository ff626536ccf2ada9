use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[image]`: what every image built by the recipe shares.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    /// Image names start with this, e.g. `github-runner`: letters, digits,
    /// `.`, `_` and `-`.
    #[schemars(pattern(rules::NAME))]
    pub prefix: Spanned<String>,
    /// CPU architecture of every image of this recipe.
    #[serde(default)]
    pub arch: Option<Spanned<RawArch>>,
    /// Tera template of the provisioning script, relative to the recipe file.
    #[schemars(length(min = 1))]
    pub template: Spanned<String>,
    /// Size of the image's disk, binary units as in QEMU (`20G` is 20 GiB),
    /// at least 1G.
    #[serde(default)]
    #[schemars(pattern(rules::SIZE))]
    pub disk_size: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawArch {
    X64,
    Arm64,
}

use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[image]`: what every image built by the recipe shares.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    /// Image names start with this, e.g. `github-runner`.
    pub prefix: Spanned<String>,
    /// CPU architecture of every image of this recipe.
    #[serde(default)]
    pub arch: Option<Spanned<RawArch>>,
    /// Tera template of the provisioning script, relative to the recipe file.
    pub template: Spanned<String>,
    /// Size of the image's disk, binary units as in QEMU (`20G` is 20 GiB).
    #[serde(default)]
    pub disk_size: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawArch {
    X64,
    Arm64,
}

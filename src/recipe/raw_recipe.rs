use super::{RawBase, RawBuild, RawImage, RawMatrix, RawServices, RawTarget, Spanned};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// A recipe file as written, before validation. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pipeline recipe")]
pub struct RawRecipe {
    pub image: Spanned<RawImage>,
    /// Base cloud images, by the name the matrix uses.
    #[serde(default)]
    pub bases: IndexMap<Spanned<String>, Spanned<RawBase>>,
    pub matrix: Spanned<RawMatrix>,
    #[serde(default)]
    pub build: RawBuild,
    #[serde(default)]
    pub services: RawServices,
    /// Free-form settings for the template, e.g. `runner_version`.
    #[serde(default)]
    pub vars: IndexMap<String, serde_json::Value>,
    /// Upload targets.
    #[serde(default, rename = "target")]
    pub targets: Vec<Spanned<RawTarget>>,
}

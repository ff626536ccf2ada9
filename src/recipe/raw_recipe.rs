use super::{
    RawBase, RawBuild, RawImage, RawMatrix, RawServices, RawTarget, RawVerify, Spanned, rules,
};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema};
use serde::Deserialize;

/// A recipe file as written, before validation. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pipeline recipe", transform = require_targets)]
pub struct RawRecipe {
    /// The recipe's name, if not its file stem: the owner mark of its
    /// images (`pipeline:<name>`), its schedule entry and its state. Two
    /// recipes with one file name in different folders need their own.
    /// Letters, digits, `.`, `_` and `-`.
    #[serde(default)]
    #[schemars(pattern(rules::NAME))]
    pub name: Option<Spanned<String>>,
    pub image: Spanned<RawImage>,
    /// Base cloud images, by the name the matrix uses (letters, digits, `.`,
    /// `_` and `-`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": rules::NAME }))]
    pub bases: IndexMap<Spanned<String>, Spanned<RawBase>>,
    pub matrix: Spanned<RawMatrix>,
    #[serde(default)]
    pub build: RawBuild,
    #[serde(default)]
    pub services: RawServices,
    /// Free-form settings for the template, e.g. `runner_version`.
    #[serde(default)]
    pub vars: IndexMap<String, serde_json::Value>,
    /// Boot every built image once more before it is uploaded.
    #[serde(default)]
    pub verify: Option<Spanned<RawVerify>>,
    /// Upload targets: at least one.
    #[serde(default, rename = "target")]
    #[schemars(length(min = 1))]
    pub targets: Vec<Spanned<RawTarget>>,
}

/// The parser lets `[[target]]` default to none so that its absence is
/// reported with every other problem; the model then requires one.
fn require_targets(schema: &mut Schema) {
    if let Some(serde_json::Value::Array(required)) = schema.get_mut("required") {
        required.push("target".into());
    }
}

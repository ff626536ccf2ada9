use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[[target]]`: where built images are uploaded and how many revisions
/// of each image are kept there.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": { "properties": { "kind": { "const": "directory" } }, "required": ["kind"] },
        "then": { "required": ["path"], "properties": { "cloud": false, "visibility": false } },
    },
    {
        "if": { "properties": { "kind": { "const": "openstack" } }, "required": ["kind"] },
        "then": { "required": ["cloud"], "properties": { "path": false } },
    },
]))]
pub struct RawTarget {
    /// Unique name of the target within the recipe: letters, digits, `.`,
    /// `_` and `-`.
    #[schemars(pattern(rules::NAME))]
    pub name: Spanned<String>,
    pub kind: Spanned<RawTargetKind>,
    /// Revisions kept per image name (2..99).
    #[schemars(range(min = 2, max = 99))]
    pub keep: Spanned<i64>,
    /// `directory` (required there): the store's directory, relative to the recipe.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub path: Option<Spanned<String>>,
    /// `openstack` (required there): the cloud's name in clouds.yaml.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cloud: Option<Spanned<String>>,
    /// `openstack`: image visibility (default private).
    #[serde(default)]
    pub visibility: Option<Spanned<RawVisibility>>,
    /// Uploads to this target that may run at once (1..16).
    #[serde(default)]
    #[schemars(range(min = 1, max = 16))]
    pub uploads: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawTargetKind {
    /// A local directory store: `<path>/<image name>/<revision>.qcow2`.
    Directory,
    /// OpenStack Glance, credentials from clouds.yaml.
    Openstack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawVisibility {
    Private,
    Shared,
    Community,
    Public,
}

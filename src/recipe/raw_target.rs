use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[[target]]`: where built images are uploaded and how many revisions
/// of each image are kept there.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target within the recipe.
    pub name: Spanned<String>,
    pub kind: Spanned<RawTargetKind>,
    /// Revisions kept per image name (2..99).
    pub keep: Spanned<i64>,
    /// `directory`: the store's directory, relative to the recipe.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// `openstack`: the cloud's name in clouds.yaml.
    #[serde(default)]
    pub cloud: Option<Spanned<String>>,
    /// `openstack`: image visibility (default private).
    #[serde(default)]
    pub visibility: Option<Spanned<RawVisibility>>,
    /// Uploads to this target that may run at once.
    #[serde(default)]
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

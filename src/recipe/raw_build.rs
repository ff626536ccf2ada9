use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[build]`: how each cell's VM is run.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": { "properties": { "backend": { "const": "openstack" } }, "required": ["backend"] },
        "then": { "required": ["cloud"] },
        "else": { "properties": { "cloud": false, "flavor": false, "network": false, "servers": false } },
    },
]))]
pub struct RawBuild {
    /// Where the build VMs run.
    #[serde(default)]
    pub backend: Option<Spanned<RawBackend>>,
    /// `openstack` (required there): the build cloud's name in clouds.yaml.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cloud: Option<Spanned<String>>,
    /// `openstack`: the flavor (name or id) of the builder servers; by
    /// default the smallest with at least `cpus`, `memory` and `disk_size`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub flavor: Option<Spanned<String>>,
    /// `openstack`: the network (name or id) of the builder servers; none
    /// by default (the guest reports on its console).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub network: Option<Spanned<String>>,
    /// `openstack`: builder servers at once (1..64); by default what the
    /// quota allows, at most the cells.
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub servers: Option<Spanned<i64>>,
    /// Virtual CPUs per build VM (1..64).
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub cpus: Option<Spanned<i64>>,
    /// Memory per build VM, binary units (`2G` is 2 GiB), at least 256M.
    #[serde(default)]
    #[schemars(pattern(rules::SIZE))]
    pub memory: Option<Spanned<String>>,
    /// Longest a build VM may run before it is killed, e.g. `30m`.
    #[serde(default)]
    #[schemars(pattern(rules::DURATION), extend("allOf" = [{ "pattern": rules::NONZERO }]))]
    pub timeout: Option<Spanned<String>>,
    /// Compression of the snapshot qcow2.
    #[serde(default)]
    pub compression: Option<Spanned<RawCompression>>,
    /// Rebuild an image older than this even when nothing changed, e.g. `7d`.
    #[serde(default)]
    #[schemars(pattern(rules::DURATION), extend("allOf" = [{ "pattern": rules::NONZERO }]))]
    pub rebuild_after: Option<Spanned<String>>,
    /// Most cells the matrix may have (1..100000), counted before anything
    /// is expanded: the product of the axes' lengths (before `exclude`)
    /// plus the `include` entries. Default 1000.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_cells: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawBackend {
    /// Local QEMU (KVM when it works, else TCG).
    Qemu,
    /// OpenStack compute (the build cloud).
    Openstack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawCompression {
    None,
    Zlib,
    Zstd,
}

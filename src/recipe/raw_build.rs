use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[build]`: how each cell's VM is run.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    /// Where the build VMs run.
    #[serde(default)]
    pub backend: Option<Spanned<RawBackend>>,
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

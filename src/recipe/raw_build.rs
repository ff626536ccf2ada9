use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[build]`: how each cell's VM is run.
/// The keys of [`RawBuild`], in order: those every backend shares.
pub const SHARED_KEYS: &[&str] = &[
    "backend",
    "cpus",
    "memory",
    "timeout",
    "compression",
    "rebuild_after",
    "max_cells",
];

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::backends::extend_build_schema)]
pub struct RawBuild {
    /// Where the build VMs run; its keys are described by the backend's
    /// folder (see `crate::backends`), and parsed into `settings`.
    #[serde(default)]
    pub backend: Option<Spanned<String>>,
    /// The backend's own keys, parsed by the backend (the parser fills it).
    #[serde(skip)]
    #[schemars(skip)]
    pub settings: crate::backends::RawBuildBackend,
    /// Virtual CPUs per build VM (1..64).
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub cpus: Option<Spanned<i64>>,
    /// Memory per build VM, binary units (`2G` is 2 GiB), at least 256M.
    #[serde(default)]
    #[schemars(pattern(rules::SIZE))]
    pub memory: Option<Spanned<String>>,
    /// Longest a build VM may run before it is killed, e.g. `30m`
    /// (1s..7d).
    #[serde(default)]
    #[schemars(pattern(rules::DURATION), extend("allOf" = [{ "pattern": rules::NONZERO }]))]
    pub timeout: Option<Spanned<String>>,
    /// Compression of the snapshot qcow2.
    #[serde(default)]
    pub compression: Option<Spanned<RawCompression>>,
    /// Rebuild an image older than this even when nothing changed, e.g. `7d`
    /// (1s..365d).
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
pub enum RawCompression {
    None,
    Zlib,
    Zstd,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_keys_are_the_fields() {
        let schema = schemars::schema_for!(RawBuild);
        let mut fields: Vec<&str> = schema
            .get("properties")
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| {
                !crate::backends::NAMES
                    .iter()
                    .any(|b| crate::backends::keys_of(b).iter().any(|o| o == k))
            })
            .collect();
        let mut shared = SHARED_KEYS.to_vec();
        fields.sort_unstable();
        shared.sort_unstable();
        assert_eq!(fields, shared);
    }
}

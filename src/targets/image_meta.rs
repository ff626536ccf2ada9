use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What every stored image says about itself, in every kind of target:
/// the directory store writes it as `<revision>.json`, Glance as properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The cell's image name, e.g. `github-runner-noble-x64-juju-3.1-stable`.
    pub name: String,
    /// Who may prune it: `pipeline:<recipe name>`. Images with another owner
    /// (or none) are never touched.
    pub owner: String,
    pub arch: String,
    pub base: String,
    /// The cell's axis values.
    pub cell: IndexMap<String, String>,
    /// SHA-256 of the qcow2 file.
    pub sha256: String,
    pub size: u64,
    /// SHA-256 of the recipe file that built it.
    pub recipe_hash: String,
    /// Hash of every input that determines the image's bytes (see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_key: Option<String>,
    /// The hashes the input key is made of, by input (`base`, `script`,
    /// `settings`, `secrets`, `wrapper`), so a rebuild can say what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Glance's `os_distro` / `os_version`, from the recipe's base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_distro: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

/// One stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The target's id for it (directory: `<name>/<n>`; Glance: the image UUID).
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Monotonic per image name in a directory store; Glance has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    pub meta: ImageMeta,
}

#[cfg(test)]
impl Revision {
    /// A revision of image `n` owned by `pipeline:r`, for tests.
    pub fn for_test(id: &str, number: Option<u64>, created_at: &str) -> Revision {
        Revision {
            id: id.into(),
            created_at: created_at.into(),
            number,
            meta: ImageMeta {
                name: "n".into(),
                owner: "pipeline:r".into(),
                arch: "x64".into(),
                base: "b".into(),
                ..ImageMeta::default()
            },
        }
    }
}

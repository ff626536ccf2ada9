use crate::recipe::RawVisibility;
use camino::Utf8PathBuf;
use serde::Serialize;

/// An upload target and its retention.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// Revisions kept per image name.
    pub keep: u32,
    /// Uploads to this target that may run at once.
    pub uploads: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetKind {
    Directory {
        path: Utf8PathBuf,
    },
    Openstack {
        cloud: String,
        visibility: Visibility,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Private,
    Shared,
    Community,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
            Visibility::Public => "public",
        }
    }
}

impl From<RawVisibility> for Visibility {
    fn from(raw: RawVisibility) -> Self {
        match raw {
            RawVisibility::Private => Visibility::Private,
            RawVisibility::Shared => Visibility::Shared,
            RawVisibility::Community => Visibility::Community,
            RawVisibility::Public => Visibility::Public,
        }
    }
}

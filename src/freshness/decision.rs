use super::InputKey;
use crate::model::{CellId, TargetId};
use crate::targets::Revision;
use serde::Serialize;

/// What a run does with one cell, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub cell: CellId,
    pub key: InputKey,
    pub action: Action,
    pub reason: String,
    /// Targets already holding an image with this key: (target, revision).
    #[serde(skip)]
    pub present: Vec<(TargetId, Revision)>,
    /// What listing the targets found wrong (unreadable metadata, damaged
    /// revisions), for the user, without `warning: `.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Boot a VM and upload the new image to these targets.
    Build { targets: Vec<TargetId> },
    /// Upload the snapshot cached from an earlier run to these targets (none:
    /// only record the manifest and prune).
    Upload { targets: Vec<TargetId> },
    /// Every target holds the newest image already.
    Skip,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Build { .. } => "build",
            Action::Upload { .. } => "upload",
            Action::Skip => "skip",
        }
    }

    pub fn targets(&self) -> &[TargetId] {
        match self {
            Action::Build { targets } | Action::Upload { targets } => targets,
            Action::Skip => &[],
        }
    }
}

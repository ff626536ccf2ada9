use crate::targets::Revision;
use serde::Serialize;

/// How one cell ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CellOutcome {
    /// Built (or uploaded from a cached snapshot) to the targets that lacked
    /// it; images per target, in recipe order.
    Built { images: Vec<TargetImage> },
    /// Nothing to do: every target holds the current image.
    #[serde(rename = "up-to-date")]
    UpToDate { images: Vec<TargetImage> },
    /// A step of this cell failed.
    Failed { step: String, error: String },
    /// Not run: a step it needed failed, or the run stopped first.
    Skipped { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetImage {
    pub target: String,
    pub id: String,
    #[serde(skip)]
    pub revision: Option<Revision>,
}

use crate::targets::Revision;
use serde::Serialize;

/// How one cell ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CellOutcome {
    /// Built and uploaded to every target (revision per target, in recipe order).
    Built { images: Vec<TargetImage> },
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

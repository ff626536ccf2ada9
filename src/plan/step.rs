use super::Resource;
use crate::model::{BaseId, CellId, TargetId};
use serde::Serialize;
use std::fmt;

/// One unit of work of a plan, with the data its kind needs: indexes into
/// the recipe's bases, cells and targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Download and verify a base image into the local cache (once per base).
    Fetch { base: BaseId },
    /// Make a fetched base ready for the backend (a cloud stages it).
    Prepare { base: BaseId },
    /// Render the cell's provisioning script into user-data.
    Render { cell: CellId },
    /// Hand the cell's machine its inputs (QEMU's NoCloud seed).
    Provision { cell: CellId },
    /// Boot the cell's machine until its guest reports, and stop it.
    Build { cell: CellId },
    /// Turn the stopped machine into an artifact the targets can store.
    Export { cell: CellId },
    /// Boot the artifact once more, as a new instance running the verify
    /// script; only then may targets have it (recipes with `[verify]`).
    Verify { cell: CellId },
    /// Store the artifact on one target.
    Upload { cell: CellId, target: TargetId },
    /// Write the provenance manifest, in the run directory and with every
    /// stored copy, once every upload of the cell is done.
    Record { cell: CellId },
    /// Delete old revisions on one target.
    Prune { cell: CellId, target: TargetId },
}

/// What a step does, without its data. The order is the order steps happen
/// in a cell's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Fetch,
    Prepare,
    Render,
    Provision,
    Build,
    Export,
    Verify,
    Upload,
    Record,
    Prune,
}

impl Step {
    pub fn kind(self) -> StepKind {
        match self {
            Step::Fetch { .. } => StepKind::Fetch,
            Step::Prepare { .. } => StepKind::Prepare,
            Step::Render { .. } => StepKind::Render,
            Step::Provision { .. } => StepKind::Provision,
            Step::Build { .. } => StepKind::Build,
            Step::Export { .. } => StepKind::Export,
            Step::Verify { .. } => StepKind::Verify,
            Step::Upload { .. } => StepKind::Upload,
            Step::Record { .. } => StepKind::Record,
            Step::Prune { .. } => StepKind::Prune,
        }
    }

    /// The cell this step belongs to (none for a base's steps).
    pub fn cell(self) -> Option<CellId> {
        match self {
            Step::Fetch { .. } | Step::Prepare { .. } => None,
            Step::Render { cell }
            | Step::Provision { cell }
            | Step::Build { cell }
            | Step::Export { cell }
            | Step::Verify { cell }
            | Step::Upload { cell, .. }
            | Step::Record { cell }
            | Step::Prune { cell, .. } => Some(cell),
        }
    }

    /// The base a base step is for.
    pub fn base(self) -> Option<BaseId> {
        match self {
            Step::Fetch { base } | Step::Prepare { base } => Some(base),
            _ => None,
        }
    }

    pub fn target(self) -> Option<TargetId> {
        match self {
            Step::Upload { target, .. } | Step::Prune { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// A step as planned: what it is, the name users read (`seed`, `boot`),
/// its stable id (`boot:<image>`, `upload:<image>@<target>`) and the
/// resource it holds while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub step: Step,
    pub name: &'static str,
    pub id: String,
    pub holds: Option<Resource>,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Fetch => "fetch",
            StepKind::Prepare => "prepare",
            StepKind::Render => "render",
            StepKind::Provision => "provision",
            StepKind::Build => "build",
            StepKind::Export => "export",
            StepKind::Verify => "verify",
            StepKind::Upload => "upload",
            StepKind::Record => "record",
            StepKind::Prune => "prune",
        })
    }
}

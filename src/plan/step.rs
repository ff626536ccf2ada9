use serde::Serialize;
use std::fmt;

/// What a step does. The order is the order steps happen in a cell's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Download and verify a base image (once per base).
    Fetch,
    /// Render the cell's provisioning script into user-data.
    Render,
    /// Make the NoCloud seed disk.
    Seed,
    /// Boot the VM on an overlay of the base and wait for it to power off.
    Boot,
    /// Convert the overlay into a standalone compressed qcow2.
    Snapshot,
    /// Upload the snapshot to one target.
    Upload,
    /// Write the provenance manifest, in the run directory and with every
    /// stored copy, once every upload of the cell is done.
    Record,
    /// Delete old revisions on one target.
    Prune,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Fetch => "fetch",
            StepKind::Render => "render",
            StepKind::Seed => "seed",
            StepKind::Boot => "boot",
            StepKind::Snapshot => "snapshot",
            StepKind::Upload => "upload",
            StepKind::Record => "record",
            StepKind::Prune => "prune",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of the plan. `cell` and `target` index into the recipe's cells
/// and targets; `base` names the base a fetch is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    pub kind: StepKind,
    pub base: Option<String>,
    pub cell: Option<usize>,
    pub target: Option<usize>,
    /// Stable, human-readable id: `fetch:noble`, `boot:<image>`,
    /// `upload:<image>@<target>`.
    pub id: String,
}

use super::job::Timings;
use crate::backends::Backend;
use crate::guest::UserData;
use crate::model::TargetId;
use crate::plan::Resource;
use crate::targets::Revision;
use std::sync::Arc;

/// What the scheduler knows about one planned cell: what its finished steps
/// made (handed to the next ones), what it holds, and how it ends.
pub struct CellSlot<B: Backend> {
    /// Steps of the cell not yet done, failed or skipped: at zero the cell
    /// is over.
    pub remaining: usize,
    /// Its machine was granted: it is finished even after a failure.
    pub started: bool,
    /// A resource granted to one of its steps and kept for the next.
    pub lease: Option<Resource>,
    pub made: Made<B>,
    pub uploads: Vec<(TargetId, Revision)>,
    pub recorded: Vec<(TargetId, Revision)>,
    /// A target adopted the artifact instead of copying it.
    pub adopted: bool,
    /// Set when a step of its own failed, or when it cannot run to its end.
    pub end: Option<CellEnd>,
    /// Seconds each finished step took, by step id (for the manifest).
    pub timings: Timings,
}

/// What a cell's finished steps have made, in the order they make it. A
/// cell that only uploads a cached snapshot stays at `Nothing`.
pub enum Made<B: Backend> {
    Nothing,
    Rendered(Arc<UserData>),
    /// Built and stopped, not yet exported.
    Built(Arc<UserData>, B::Built),
    /// The export step owns the built machine while it runs.
    Exporting(Arc<UserData>),
    Exported {
        user_data: Arc<UserData>,
        artifact: Arc<B::Exported>,
        /// What its verify step recorded.
        verified: Option<serde_json::Value>,
        /// The backend no longer holds the artifact for the run.
        released: bool,
    },
}

/// Why a cell did not run to its end.
#[derive(Debug, Clone)]
pub enum CellEnd {
    /// A step of its own failed: its id, and why.
    Failed { step: String, error: String },
    /// A step it needed failed, the run stopped first, or an interrupt.
    Skipped { reason: String },
}

impl<B: Backend> CellSlot<B> {
    pub fn new(steps: usize) -> Self {
        Self {
            remaining: steps,
            started: false,
            lease: None,
            made: Made::Nothing,
            uploads: Vec::new(),
            recorded: Vec::new(),
            adopted: false,
            end: None,
            timings: Timings::new(),
        }
    }

    pub fn user_data(&self) -> Option<&Arc<UserData>> {
        match &self.made {
            Made::Nothing => None,
            Made::Rendered(u) | Made::Built(u, _) | Made::Exporting(u) => Some(u),
            Made::Exported { user_data, .. } => Some(user_data),
        }
    }

    pub fn artifact(&self) -> Option<&Arc<B::Exported>> {
        match &self.made {
            Made::Exported { artifact, .. } => Some(artifact),
            _ => None,
        }
    }

    pub fn verified(&self) -> Option<&serde_json::Value> {
        match &self.made {
            Made::Exported { verified, .. } => verified.as_ref(),
            _ => None,
        }
    }

    /// The built machine, for the export step; the slot keeps the user-data.
    pub fn take_built(&mut self) -> Option<B::Built> {
        match std::mem::replace(&mut self.made, Made::Nothing) {
            Made::Built(u, built) => {
                self.made = Made::Exporting(u);
                Some(built)
            }
            other => {
                self.made = other;
                None
            }
        }
    }

    /// The first failure, or the first reason to skip, is the one told.
    pub fn fail(&mut self, step: &str, error: &str) {
        if !matches!(self.end, Some(CellEnd::Failed { .. })) {
            self.end = Some(CellEnd::Failed {
                step: step.to_owned(),
                error: error.to_owned(),
            });
        }
    }

    pub fn skip(&mut self, reason: &str) {
        self.end.get_or_insert_with(|| CellEnd::Skipped {
            reason: reason.to_owned(),
        });
    }
}

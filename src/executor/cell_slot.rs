use super::job::Timings;
use crate::backends::Backend;
use crate::guest::UserData;
use crate::plan::Resource;
use crate::targets::Revision;
use std::sync::Arc;

/// What the scheduler knows about one planned cell: what its finished steps
/// produced (handed to the next ones), what it holds, and how it ends.
pub struct CellSlot<B: Backend> {
    /// Steps of the cell not yet done, failed or skipped: at zero the cell
    /// is over.
    pub remaining: usize,
    /// Its machine was granted: it is finished even after a failure.
    pub started: bool,
    /// A resource granted to one of its steps and kept for the next.
    pub lease: Option<Resource>,
    pub user_data: Option<Arc<UserData>>,
    /// Built and stopped, not yet exported.
    pub built: Option<B::Built>,
    pub artifact: Option<Arc<B::Exported>>,
    /// What its verify step recorded.
    pub verified: Option<serde_json::Value>,
    /// The backend no longer needs to hold the artifact for the run.
    pub released: bool,
    /// A target adopted the artifact instead of copying it.
    pub adopted: bool,
    pub uploads: Vec<(usize, Revision)>,
    pub recorded: Vec<(usize, Revision)>,
    /// The step that failed, and why.
    pub failure: Option<(String, String)>,
    /// Why the cell did not run to its end, when no step of its own failed.
    pub skipped: Option<String>,
    /// Seconds each finished step took, by step id (for the manifest).
    pub timings: Timings,
}

impl<B: Backend> CellSlot<B> {
    pub fn new(steps: usize) -> Self {
        Self {
            remaining: steps,
            started: false,
            lease: None,
            user_data: None,
            built: None,
            artifact: None,
            verified: None,
            released: false,
            adopted: false,
            uploads: Vec::new(),
            recorded: Vec::new(),
            failure: None,
            skipped: None,
            timings: Timings::new(),
        }
    }
}

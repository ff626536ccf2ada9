use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once when the run is interrupted; long-running step code polls it
/// between chunks of work and returns `StepError::cancelled()`.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(cancelled)` once cancelled, for use with `?`.
    pub fn check(&self) -> crate::step_error::StepResult<()> {
        if self.is_cancelled() {
            Err(crate::step_error::StepError::cancelled())
        } else {
            Ok(())
        }
    }
}

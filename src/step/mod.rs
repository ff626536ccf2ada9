//! What every step shares, from the executor down to the backends, targets
//! and host code: how it is told to stop and how it fails.

mod cancel;
mod step_error;

pub use cancel::CancelToken;
pub use step_error::{StepError, StepErrorKind, StepResult};

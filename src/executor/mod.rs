//! The executor: runs a frozen plan. See `scheduler` for the rules.

mod event;
mod manifest;
mod outcome;
mod perform;
mod reporter;
mod run_context;
mod scheduler;
mod step_output;

pub use event::{Message, Progress};
pub use outcome::{CellOutcome, TargetImage};
pub use reporter::Reporter;
pub use run_context::{RunContext, owner_of};
pub use scheduler::{Options, RunReport, run};
pub use step_output::StepOutput;

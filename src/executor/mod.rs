//! The executor: runs a frozen plan on a backend. See `drain_state` for the
//! rules.

mod cell_slot;
mod dependency_queue;
mod drain_state;
#[doc(hidden)]
pub mod fake;
mod job;
mod manifest;
mod message;
mod outcome;
mod reporter;
mod run_context;
#[cfg(test)]
mod tests;

pub use drain_state::{Options, Perform, RunReport, run_with};
pub use job::{Done, Job, perform};
pub use message::{Message, Progress};
pub use outcome::{CellOutcome, TargetImage};
pub use reporter::Reporter;
pub use run_context::{RunContext, owner_of};

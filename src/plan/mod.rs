//! The plan: the recipe's selected cells turned into a frozen DAG of steps.
//! Pure, like the model: the backend's own steps come from the
//! [`BackendSteps`] it describes itself with.

mod backend_steps;
#[allow(clippy::module_inception)]
mod plan;
pub mod report;
mod resource;
mod step;

pub use backend_steps::{BackendSteps, StepShape};
pub use plan::{CellWork, CycleError, Plan};
pub use resource::Resource;
pub use step::{PlannedStep, Step, StepKind};

//! The plan: the recipe's selected cells turned into a frozen DAG of steps.
//! Pure, like the model.

#[allow(clippy::module_inception)]
mod plan;
pub mod report;
mod step;

pub use plan::{CellWork, CycleError, Plan};
pub use step::{Step, StepKind};

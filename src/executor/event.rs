use super::StepOutput;
use crate::step_error::StepError;
use petgraph::graph::NodeIndex;

/// What workers (and the signal thread) tell the scheduler. The scheduler's
/// state lives on one thread; workers only send these.
#[derive(Debug)]
pub enum Message {
    /// A step ended, for good (retries already happened in the worker).
    Finish(NodeIndex, Box<Result<StepOutput, StepError>>),
    /// A step made progress worth showing.
    Progress(NodeIndex, Progress),
    /// SIGINT or SIGTERM arrived.
    Interrupt,
}

#[derive(Debug, Clone)]
pub enum Progress {
    /// Bytes done and, when known, the total.
    Bytes(u64, Option<u64>),
    /// A line for the live view and the run log.
    Note(String),
    /// A transient failure; the step is tried again after a pause.
    Retry { attempt: u32, error: String },
}

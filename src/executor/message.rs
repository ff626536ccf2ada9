use super::Done;
use crate::backends::Backend;
use crate::step::StepResult;
use petgraph::graph::NodeIndex;
use std::time::Duration;

/// What workers (and the signal thread) tell the scheduler. The scheduler's
/// state lives on one thread; workers only send these.
pub enum Message<B: Backend> {
    /// A step ended, for good (retries already happened in the worker),
    /// after `elapsed`.
    Finish {
        node: NodeIndex,
        result: StepResult<Done<B>>,
        elapsed: Duration,
    },
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
    /// The last line a guest printed on its console, scrubbed.
    Console(String),
    /// A transient failure; the step is tried again after a pause.
    Retry { attempt: u32, error: String },
}

use crate::plan::PlannedStep;
use std::time::Duration;

/// What a [`super::Script`] does besides the instant jobs.
#[derive(Default)]
pub struct Rules {
    /// The steps that fail (permanently).
    pub fail: Option<fn(&PlannedStep) -> bool>,
    /// The first step of this kind (its name: `boot`) to run fails.
    pub fail_first: Option<&'static str>,
    /// Steps of this kind wait until this many of them have started.
    pub gate: Option<(&'static str, usize)>,
    /// The first step of this kind (past its gate) interrupts the run.
    pub interrupt_at: Option<&'static str>,
    /// Steps of this kind wait for the interrupt, then say cancelled...
    pub block: Option<&'static str>,
    /// ... or end well anyway (the machine stopped just in time).
    pub block_ends_well: bool,
    /// Machine steps take this long, so that cells wait for machines.
    pub machine_time: Duration,
}

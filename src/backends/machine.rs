use crate::guest::{GuestOutput, Purpose, ReportFrom};
use crate::step::StepResult;
use std::sync::Arc;
use std::time::Duration;

/// A backend's build machine, as [`super::guest_boot`] drives it: start
/// one with its user-data, look at it while the guest runs, stop it once
/// the guest is done, destroy it. The lifecycle around these (the console,
/// the result lines, the verdict, the deadline, tearing down on every path)
/// is written once, in `guest_boot`.
pub trait Machine: Sync {
    /// What starts one machine: the image, the user-data and what the
    /// backend needs besides.
    type Launch;
    /// A started machine; dropping it must not leave it running.
    type Running: Send;

    /// How often [`Machine::poll`] is called.
    fn poll_every(&self) -> Duration;

    /// Where the guest's result lines arrive.
    fn report_from(&self) -> ReportFrom;

    /// For messages: `VM`, `server`, `verify server`.
    fn noun(&self, purpose: Purpose) -> &'static str;

    /// For messages: where the guest's cloud-init finds its user-data
    /// (` from the config drive`), or nothing.
    fn user_data_source(&self) -> &'static str;

    /// What happened when the guest gave no final line within `timeout`
    /// ("the VM did not power off within 30m and was killed").
    fn timed_out(&self, purpose: Purpose, timeout: Duration) -> String;

    /// Start a machine; what the guest prints goes to `output`.
    fn start(&self, launch: &Self::Launch, output: &Arc<GuestOutput>) -> StepResult<Self::Running>;

    /// How the machine is now, with what the guest printed since the last
    /// poll handed to `output`.
    fn poll(
        &self,
        running: &mut Self::Running,
        launch: &Self::Launch,
        output: &Arc<GuestOutput>,
    ) -> StepResult<MachineState>;

    /// The guest gave its final line and all went well: stop the machine,
    /// so that its disk is complete. Within `left`.
    fn stop(
        &self,
        running: &mut Self::Running,
        output: &Arc<GuestOutput>,
        left: Duration,
    ) -> StepResult<()>;

    /// Remove the machine and what it holds, whatever state it is in.
    fn destroy(&self, running: Self::Running) -> StepResult<()>;

    /// What the machine itself said, for an error (QEMU's last lines).
    fn evidence(&self, running: &Self::Running) -> Option<String>;
}

/// A machine as [`Machine::poll`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineState {
    /// Starting or running.
    Running,
    /// Off by itself, with its exit status where it has one.
    Off(Option<i32>),
    /// The hypervisor stopped it or could not run it: a sentence saying so
    /// ("QEMU stopped the guest (io-error …)", "nova put server x in ERROR: …").
    Failed(String),
    /// It was started again from nothing (on another accelerator); the
    /// note says why. Its output so far is void, its deadline starts again.
    Restarted(String),
}

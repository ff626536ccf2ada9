//! A build cloud's server as a [`Machine`]: created with its user-data on a
//! config drive (waiting for room in the quota, see `launch`), watched
//! through Nova (its state, and its console, from which the guest's lines
//! come), stopped with `os-stop` once the guest is done, deleted on every
//! other path.

use super::{CONSOLE_LINES, OpenstackBackend, POLL};
use crate::backends::{Machine, MachineState};
use crate::guest::{GuestOutput, Purpose, ReportFrom};
use crate::step::{CancelToken, StepError, StepResult};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The servers of one step.
pub struct ServerMachine<'b, 'a> {
    pub backend: &'b OpenstackBackend<'a>,
    pub cancel: &'b CancelToken,
    pub notify: &'b (dyn Fn(String) + Sync),
    /// Waiting for room to create the server counts against the step's time.
    pub deadline: Instant,
}

/// What one server is created with.
pub struct ServerLaunch {
    /// `POST /servers`'s body.
    pub body: Value,
    pub name: String,
    /// For messages: `server`, `verify server`.
    pub noun: &'static str,
    /// The line said once the server exists, given its id.
    pub created: Box<dyn Fn(&str) -> String + Sync>,
}

/// A server of this run.
pub struct ServerRunning {
    pub id: String,
    pub name: String,
    /// The console as last read: the next read's new lines follow it.
    console: String,
    active: bool,
}

impl Machine for ServerMachine<'_, '_> {
    type Launch = ServerLaunch;
    type Running = ServerRunning;

    fn poll_every(&self) -> Duration {
        POLL
    }

    fn report_from(&self) -> ReportFrom {
        ReportFrom::Console
    }

    fn noun(&self, purpose: Purpose) -> &'static str {
        match purpose {
            Purpose::Build => "server",
            Purpose::Verify => "verify server",
        }
    }

    fn user_data_source(&self) -> &'static str {
        " from the config drive"
    }

    fn timed_out(&self, purpose: Purpose, timeout: Duration) -> String {
        let what = match purpose {
            Purpose::Build => "",
            Purpose::Verify => " its verify result",
        };
        format!(
            "the guest did not report{what} within {} and the server was deleted",
            humantime::format_duration(timeout)
        )
    }

    fn start(&self, launch: &ServerLaunch, _: &Arc<GuestOutput>) -> StepResult<ServerRunning> {
        let created = |id: &str| (self.notify)((launch.created)(id));
        let id = self.backend.launch(
            &launch.body,
            &launch.name,
            self.deadline,
            self.cancel,
            self.notify,
            &created,
        )?;
        Ok(ServerRunning {
            id,
            name: launch.name.clone(),
            console: String::new(),
            active: false,
        })
    }

    fn poll(
        &self,
        running: &mut ServerRunning,
        launch: &ServerLaunch,
        output: &Arc<GuestOutput>,
    ) -> StepResult<MachineState> {
        let nova = self.backend.nova();
        let Some(server) = nova.server(&running.id)? else {
            return Err(StepError::permanent(format!(
                "{} {} disappeared from cloud `{}`",
                launch.noun,
                running.id,
                self.backend.cloud()
            )));
        };
        Ok(match server.status.as_str() {
            "ERROR" => MachineState::Failed(format!(
                "nova put {} {} in ERROR: {}",
                launch.noun,
                running.name,
                server.fault.unwrap_or_default()
            )),
            "SHUTOFF" => MachineState::Off(None),
            "ACTIVE" => {
                if !running.active {
                    running.active = true;
                    (self.notify)(format!(
                        "{} {} is active; waiting for the guest",
                        launch.noun, running.name
                    ));
                }
                if let Some(text) = nova.console(&running.id, CONSOLE_LINES)? {
                    output.console(new_output(&running.console, &text).as_bytes());
                    running.console = text;
                }
                MachineState::Running
            }
            _ => MachineState::Running,
        })
    }

    /// The guest lingers after its last line (the console is only shown
    /// while it runs): stopping it now saves the 15 s or more Nova takes to
    /// notice a guest's own poweroff.
    fn stop(
        &self,
        running: &mut ServerRunning,
        _: &Arc<GuestOutput>,
        _: Duration,
    ) -> StepResult<()> {
        self.backend.nova().stop(&running.id)?;
        self.backend.wait_shutoff(&running.id, self.cancel)
    }

    fn destroy(&self, running: ServerRunning) -> StepResult<()> {
        self.backend.forget_server(&running.id)
    }

    fn evidence(&self, _: &ServerRunning) -> Option<String> {
        None
    }
}

/// What `now` (a console's last lines) holds after `before` (the same
/// console's last lines, read earlier): the lines after the longest run of
/// `before`'s last lines that `now` starts with. A line still being written
/// (no newline yet) waits for the next read.
fn new_output(before: &str, now: &str) -> String {
    let whole = |text: &str| -> Vec<String> {
        let end = text.rfind('\n').map_or(0, |nl| nl + 1);
        text[..end].lines().map(str::to_owned).collect()
    };
    let (before, now) = (whole(before), whole(now));
    let overlap = (1..=before.len().min(now.len()))
        .rev()
        .find(|&k| before[before.len() - k..] == now[..k])
        .unwrap_or(0);
    let mut new = String::new();
    if overlap == 0 && !before.is_empty() && !now.is_empty() {
        new.push_str("[pipeline: console lines may be missing here]\n");
    }
    for line in &now[overlap..] {
        new.push_str(line);
        new.push('\n');
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_console_line_is_handed_on_once() {
        assert_eq!(new_output("", "a\nb\npart"), "a\nb\n");
        assert_eq!(new_output("a\nb\npart", "b\npartial\nc\n"), "partial\nc\n");
        assert_eq!(new_output("a\nb\n", "a\nb\n"), "");
        assert_eq!(
            new_output("a\nb\n", "x\ny\n"),
            "[pipeline: console lines may be missing here]\nx\ny\n"
        );
    }
}

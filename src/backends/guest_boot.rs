//! The one guest-boot lifecycle, for every backend and for builds and
//! verify boots alike: start a [`Machine`] with its user-data, watch what
//! the guest prints and how the machine is, judge the guest's result lines
//! once its final line is there, stop the machine when the guest did well,
//! and destroy it on every other path (a failed script, a machine that
//! failed or powered off without a result, the deadline, an interrupt).

use super::{Machine, MachineState, Verified};
use crate::guest::{GuestOutput, Purpose, Report};
use crate::step::{CancelToken, StepError, StepErrorKind, StepResult};
use camino::Utf8Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a boot is watched for, the same on every backend.
pub struct Watch<'a> {
    pub purpose: Purpose,
    /// Only result lines with it count.
    pub nonce: &'a str,
    /// Longest the guest may take to give its final line.
    pub timeout: Duration,
    /// Where the console is logged, in the run directory.
    pub console_log: &'a Utf8Path,
    pub cancel: &'a CancelToken,
    /// A line for the progress output and the run log.
    pub notify: &'a (dyn Fn(String) + Sync),
    /// The console's last line, each time it changes (the live view).
    pub console_line: &'a (dyn Fn(String) + Sync),
}

/// A machine whose guest did what was asked, and how long it took.
pub struct Booted<R> {
    /// Stopped, its disk complete; the caller destroys it when done.
    pub running: R,
    pub elapsed: Duration,
    /// A verify boot's verdict.
    pub verified: Option<Verified>,
}

/// Boot `launch` on `machine` until the guest's verdict (see the module).
pub fn boot<M: Machine>(
    machine: &M,
    launch: &M::Launch,
    watch: &Watch,
) -> StepResult<Booted<M::Running>> {
    let output = Arc::new(GuestOutput::new(
        watch.console_log,
        watch.nonce,
        watch.purpose,
        machine.report_from(),
    ));
    let mut running = machine.start(launch, &output)?;
    let ended = watched(machine, launch, watch, &output, &mut running);
    output.finish();
    match ended {
        Ok((elapsed, verified)) => Ok(Booted {
            running,
            elapsed,
            verified,
        }),
        Err(e) => Err(torn_down(machine, running, e)),
    }
}

/// `e`, once the machine is destroyed (and what destroying it said).
fn torn_down<M: Machine>(machine: &M, running: M::Running, e: StepError) -> StepError {
    match machine.destroy(running) {
        Ok(()) => e,
        Err(cleanup) if e.kind == StepErrorKind::Cancelled => cleanup,
        Err(cleanup) => e.context(cleanup.message),
    }
}

fn watched<M: Machine>(
    machine: &M,
    launch: &M::Launch,
    watch: &Watch,
    output: &Arc<GuestOutput>,
    running: &mut M::Running,
) -> StepResult<(Duration, Option<Verified>)> {
    let mut started = Instant::now();
    let evidence = |running: &M::Running| evidence(machine, running, output);
    loop {
        watch.cancel.check()?;
        let state = machine.poll(running, launch, output)?;
        if let Some(line) = output.new_last_line() {
            (watch.console_line)(line);
        }
        if output.is_final() {
            let report = output.report_so_far();
            let verdict = judge(watch.purpose, &report, started.elapsed(), &|| {
                evidence(running)
            })?;
            let left = watch.timeout.saturating_sub(started.elapsed());
            machine.stop(running, output, left)?;
            return Ok((started.elapsed(), verdict));
        }
        match state {
            MachineState::Running => {}
            MachineState::Off(_) => {
                let (expected, user_data) = match watch.purpose {
                    Purpose::Build => ("a result", "the user-data"),
                    Purpose::Verify => ("a verify result", "the verify user-data"),
                };
                return Err(StepError::permanent(format!(
                    "the {} powered off without reporting {expected} (did cloud-init run {user_data}{}?); {}",
                    machine.noun(watch.purpose),
                    machine.user_data_source(),
                    evidence(running)
                )));
            }
            MachineState::Failed(why) => {
                return Err(StepError::permanent(format!(
                    "{why}; {}",
                    evidence(running)
                )));
            }
            MachineState::Restarted(note) => {
                output.restart();
                started = Instant::now();
                (watch.notify)(note);
            }
        }
        if started.elapsed() >= watch.timeout {
            return Err(StepError::permanent(format!(
                "{}; {}",
                machine.timed_out(watch.purpose, watch.timeout),
                evidence(running)
            )));
        }
        watch.cancel.sleep(machine.poll_every())?;
    }
}

/// The console's last lines, then what the machine said, for an error.
fn evidence<M: Machine>(machine: &M, running: &M::Running, output: &GuestOutput) -> String {
    let tail = output.tail();
    let mut text = if tail.is_empty() {
        "the guest wrote nothing to its console".to_owned()
    } else {
        format!("last console lines:\n{tail}")
    };
    if let Some(said) = machine.evidence(running) {
        text.push('\n');
        text.push_str(&said);
    }
    text
}

/// The guest's verdict from its final result lines: a build's script and
/// clean-up succeeded; a verify boot's checks and script passed.
fn judge(
    purpose: Purpose,
    report: &Report,
    elapsed: Duration,
    evidence: &dyn Fn() -> String,
) -> StepResult<Option<Verified>> {
    match purpose {
        Purpose::Verify => Verified::judge(report, elapsed, evidence).map(Some),
        Purpose::Build => {
            let result = report.result();
            match (result.script, result.clean) {
                (Some(0), Some(0)) => Ok(None),
                (Some(0), clean) => Err(StepError::permanent(format!(
                    "the provisioning script succeeded but the clean-up before power-off {}; {}",
                    clean.map_or("never reported".to_owned(), |c| format!("failed with {c}")),
                    evidence()
                ))),
                (Some(code), _) => Err(StepError::permanent(format!(
                    "the provisioning script exited with {code}; {}",
                    evidence()
                ))),
                (None, _) => Err(StepError::permanent(format!(
                    "the guest reported its clean-up but not its script (a bug in the guest wrapper); {}",
                    evidence()
                ))),
            }
        }
    }
}

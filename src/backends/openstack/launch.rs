//! Starting a server: create it and wait until it leaves `BUILD`, waiting
//! for room while the quota (or the hosts) are full and other servers of
//! this run will make some.
//!
//! Nova checks the quota twice: in the API and again in the conductor. Two
//! servers created at once both pass the first check and may both fail the
//! second, and then again on every retry. Once a run has met a full quota,
//! its servers therefore start one at a time (`launching`): each is created
//! and watched until it is `ACTIVE` or `ERROR` before the next is created.

use super::{OpenstackBackend, QUOTA_PAUSE};
use crate::step::CancelToken;
use crate::step::{StepError, StepErrorKind, StepResult};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a server in `BUILD` is looked at.
const BUILD_POLL: Duration = Duration::from_secs(1);

/// Where a wait for room for a server stands.
#[derive(Default)]
struct RoomWait {
    /// The user was told.
    notified: bool,
    /// Tried again once with no other server of the run running.
    tried_alone: bool,
}

/// How a server left `BUILD`.
enum Started {
    Active,
    /// Nova's fault message.
    Error(String),
}

impl OpenstackBackend<'_> {
    /// Create the server `name` from `body` and wait until it runs; its id.
    /// A server that Nova puts in `ERROR` for want of room is deleted and
    /// created again once there is room; any other `ERROR` fails the step.
    pub(super) fn launch(
        &self,
        body: &Value,
        name: &str,
        deadline: Instant,
        cancel: &CancelToken,
        notify: &(dyn Fn(String) + Sync),
        created: &dyn Fn(&str),
    ) -> StepResult<String> {
        let mut room = RoomWait::default();
        loop {
            let gate = self.contended.load(Ordering::SeqCst).then(|| {
                // A worker that panicked holding it left nothing behind.
                self.launching.lock().unwrap_or_else(|e| e.into_inner())
            });
            let id = self.create_server(body, deadline, cancel, notify, &mut room)?;
            created(&id);
            let started = self.wait_started(&id, deadline, cancel);
            let fault = match started {
                Ok(Started::Active) => return Ok(id),
                Ok(Started::Error(fault)) => fault,
                Err(e) => return Err(self.forgotten(&id, e)),
            };
            if !(fault.contains("Quota exceeded") || fault.contains("No valid host")) {
                return Err(self.forgotten(
                    &id,
                    StepError::permanent(format!("nova put server {name} in ERROR: {fault}")),
                ));
            }
            self.contended.store(true, Ordering::SeqCst);
            let _ = self.forget_server(&id);
            drop(gate);
            let why = format!("nova could not start server {name} ({fault})");
            self.wait_for_room(&why, deadline, cancel, notify, &mut room)?;
        }
    }

    /// `e`, after the server is deleted (and what that deletion said).
    fn forgotten(&self, id: &str, e: StepError) -> StepError {
        match self.forget_server(id) {
            Ok(()) => e,
            Err(cleanup) if e.kind == StepErrorKind::Cancelled => cleanup,
            Err(cleanup) => e.context(cleanup.message),
        }
    }

    /// Create the cell's server, waiting while the API refuses it for want
    /// of quota and other servers of this run are building; its id.
    fn create_server(
        &self,
        body: &Value,
        deadline: Instant,
        cancel: &CancelToken,
        notify: &(dyn Fn(String) + Sync),
        room: &mut RoomWait,
    ) -> StepResult<String> {
        loop {
            cancel.check()?;
            match self.nova().create_server(body)? {
                Ok(id) => {
                    self.alive.fetch_add(1, Ordering::SeqCst);
                    return Ok(id);
                }
                Err((status, text)) => {
                    let why = crate::http::failure::error_message(&text);
                    let quota = matches!(status, 403 | 413) && why.contains("quota");
                    if !quota {
                        return Err(crate::http::failure::status_error(
                            &format!("create a server on cloud `{}`", self.cloud()),
                            status,
                            &text,
                        ));
                    }
                    self.contended.store(true, Ordering::SeqCst);
                    let why = format!("nova refused a server ({why}, http {status})");
                    self.wait_for_room(&why, deadline, cancel, notify, room)?;
                }
            }
        }
    }

    /// Poll a new server until it is out of `BUILD`.
    fn wait_started(
        &self,
        id: &str,
        deadline: Instant,
        cancel: &CancelToken,
    ) -> StepResult<Started> {
        loop {
            match self.nova().server(id)? {
                None => {
                    return Err(StepError::permanent(format!(
                        "server {id} disappeared from cloud `{}` while it started",
                        self.cloud()
                    )));
                }
                Some(s) if s.status == "ERROR" => {
                    return Ok(Started::Error(s.fault.unwrap_or_default()));
                }
                Some(s) if s.status != "BUILD" => return Ok(Started::Active),
                Some(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(StepError::permanent(format!(
                    "server {id} on cloud `{}` was still starting when build.timeout ran out",
                    self.cloud()
                )));
            }
            cancel.sleep(BUILD_POLL)?;
        }
    }

    /// No room for a server now. While another server of this run runs,
    /// wait for it; when none does, try once more (one may just have
    /// finished), then give up. Says so the first time (`room.notified`).
    fn wait_for_room(
        &self,
        why: &str,
        deadline: Instant,
        cancel: &CancelToken,
        notify: &(dyn Fn(String) + Sync),
        room: &mut RoomWait,
    ) -> StepResult<()> {
        if Instant::now() >= deadline {
            return Err(StepError::permanent(format!(
                "{why} on cloud `{}` until build.timeout ran out",
                self.cloud()
            )));
        }
        if self.alive.load(Ordering::SeqCst) == 0 {
            if room.tried_alone {
                return Err(StepError::permanent(format!(
                    "{why} on cloud `{}`, and no other server of this run is running to make room",
                    self.cloud()
                )));
            }
            room.tried_alone = true;
        } else {
            room.tried_alone = false;
        }
        if !room.notified {
            room.notified = true;
            notify(format!(
                "{why} on cloud `{}`; waiting for another server of this run to finish",
                self.cloud()
            ));
        }
        cancel.sleep(QUOTA_PAUSE)
    }
}

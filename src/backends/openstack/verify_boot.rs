//! The verify step on a cloud: a new server booted from the cell's
//! snapshot with the verify user-data, watched on its console until the
//! guest's verdict, then deleted on every path.

use super::{CELL, CONSOLE_LINES, KIND, OWNER, OpenstackBackend, POLL, RUN, truncate};
use crate::backends::{CellJob, Verified, VerifyJob};
use crate::guest::{UserData, VerifyFacts, console_tail};
use crate::openstack::sleep;
use crate::output::Scrubber;
use crate::step::{StepError, StepResult};
use base64::Engine;
use serde_json::json;
use std::time::Instant;

/// What export keeps of a cell for its verify step.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The builder server's id: the instance-id the verify boot must not
    /// run as.
    pub build_server: String,
    /// The snapshot in the build cloud, kept only for verify when targets
    /// get a compressed copy of it (deleted once verify is over).
    pub snapshot: Option<String>,
    /// That compressed copy, by which `release` finds the snapshot of a run
    /// that stopped before verify.
    pub artifact_path: Option<camino::Utf8PathBuf>,
}

impl OpenstackBackend<'_> {
    /// Boot `image` as a new server with the verify user-data and wait for
    /// the guest's verdict; the server is deleted whatever happens.
    pub(super) fn verify_on_server(
        &self,
        job: &CellJob,
        image: &str,
        build_server: &str,
        check: &VerifyJob,
    ) -> StepResult<Verified> {
        let started = Instant::now();
        let deadline = started + check.timeout;
        let fail = |e: String| StepError::permanent(format!("build cloud `{}`: {e}", self.cloud()));
        let flavor = self.flavor(None).map_err(fail)?.clone();
        let networks = self.networks().map_err(fail)?;
        // Nova names the instance when it creates the server: the guest
        // checks it is not the builder's.
        let user_data = UserData::wrap_verify(
            check.script,
            &VerifyFacts {
                instance_id: None,
                build_instance_id: build_server,
                build_nonce: &job.user_data.nonce,
                disk_size: check.disk_size,
            },
        );
        let _ = std::fs::write(
            job.logs.join("verify-user-data"),
            Scrubber::global().scrub(&user_data.text).as_ref(),
        );
        let name = truncate(&format!(
            "pipeline-verify-{}-{}",
            job.cell.image_name, self.run_id
        ));
        let body = json!({ "server": {
            "name": name,
            "imageRef": image,
            "flavorRef": flavor.id,
            "networks": networks,
            "config_drive": true,
            "user_data": base64::engine::general_purpose::STANDARD.encode(&user_data.text),
            "metadata": {
                OWNER: self.owner,
                RUN: self.run_id,
                CELL: truncate(&job.cell.image_name),
                KIND: "verify",
                "pipeline_image": image,
            },
        }});
        let created = |id: &str| {
            (job.notify)(format!(
                "verify server {name} ({id}) created from snapshot {image}"
            ))
        };
        let id = self.launch(&body, &name, deadline, job.cancel, job.notify, &created)?;
        let watched = self.watch_verify(job, &id, &user_data.nonce, started, deadline);
        let gone = self.forget_server(&id);
        let verdict = match watched {
            Ok(Watched::Verdict(verdict)) => verdict,
            Ok(Watched::Error(fault)) => Err(StepError::permanent(format!(
                "nova put verify server {name} in ERROR: {fault}"
            ))),
            Err(e) => Err(e),
        };
        match (verdict, gone) {
            (verdict, Ok(())) => verdict,
            (Ok(_), Err(cleanup)) => Err(cleanup),
            (Err(e), Err(cleanup)) => Err(e.context(cleanup.message)),
        }
    }

    /// Poll the verify server until the guest's verdict, an `ERROR`, its
    /// power-off without a verdict, or the deadline.
    fn watch_verify(
        &self,
        job: &CellJob,
        id: &str,
        nonce: &str,
        started: Instant,
        deadline: Instant,
    ) -> StepResult<Watched> {
        let console_log = job.logs.join("verify-console.log");
        let mut console = String::new();
        // The result lines seen so far: a chatty verify script may push the
        // first out of the console's last lines before the verdict.
        let mut report: Vec<String> = Vec::new();
        loop {
            sleep(POLL, job.cancel)?;
            let Some(server) = self.nova().server(id)? else {
                return Err(StepError::permanent(format!(
                    "verify server {id} disappeared from cloud `{}`",
                    self.cloud()
                )));
            };
            if server.status == "ERROR" {
                return Ok(Watched::Error(server.fault.unwrap_or_default()));
            }
            if server.status == "ACTIVE"
                && let Some(text) = self.nova().console(id, CONSOLE_LINES)?
            {
                console = text;
                let _ = std::fs::write(&console_log, Scrubber::global().scrub(&console).as_ref());
                for line in console.lines().map(str::trim_end) {
                    if line.starts_with("PIPELINE_") && !report.iter().any(|l| l == line) {
                        report.push(line.to_owned());
                    }
                }
            }
            let evidence = || {
                let tail = Scrubber::global()
                    .scrub(&console_tail(&console, nonce))
                    .into_owned();
                if tail.is_empty() {
                    "the guest wrote nothing to its console".to_owned()
                } else {
                    format!("last console lines:\n{tail}")
                }
            };
            if let Some(verdict) =
                Verified::judge(&report.join("\n"), nonce, started.elapsed(), &evidence)
            {
                return Ok(Watched::Verdict(verdict));
            }
            if server.status == "SHUTOFF" {
                return Err(StepError::permanent(format!(
                    "the verify server powered off without reporting a verify result (did cloud-init run the verify user-data from the config drive?); {}",
                    evidence()
                )));
            }
            if Instant::now() >= deadline {
                return Err(StepError::permanent(format!(
                    "the guest did not report its verify result within {} and the server was deleted; {}",
                    humantime::format_duration(
                        job.recipe
                            .verify
                            .as_ref()
                            .map_or(std::time::Duration::ZERO, |v| v.timeout)
                    ),
                    evidence()
                )));
            }
        }
    }
}

/// How the watch of a verify server ended, short of a failure.
enum Watched {
    Verdict(StepResult<Verified>),
    /// Nova put the server in `ERROR`, with this fault.
    Error(String),
}

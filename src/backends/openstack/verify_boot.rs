//! The verify step on a cloud: a new server booted from the cell's
//! snapshot with the verify user-data, watched through the one guest-boot
//! lifecycle until the guest's verdict, then deleted on every path.

use super::server_machine::ServerLaunch;
use super::{CELL, KIND, OWNER, OpenstackBackend, RUN, truncate};
use crate::backends::{CellJob, Machine, Verified, VerifyJob, guest_boot};
use crate::guest::{Purpose, UserData, VerifyFacts};
use crate::output::Scrubber;
use crate::step::{StepError, StepResult};
use serde_json::json;
use std::time::Instant;

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
        let flavor = self
            .flavor(None)
            .map_err(|e| StepError::permanent(format!("build cloud `{}`: {e}", self.cloud())))?
            .clone();
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
        let body = self.server_body(
            &name,
            image,
            &flavor,
            &user_data.text,
            json!({
                OWNER: self.owner,
                RUN: self.run_id,
                CELL: truncate(&job.cell.image_name),
                KIND: "verify",
                "pipeline_image": image,
            }),
        )?;
        let image = image.to_owned();
        let launch = ServerLaunch {
            body,
            name: name.clone(),
            noun: "verify server",
            created: Box::new(move |id| {
                format!("verify server {name} ({id}) created from snapshot {image}")
            }),
        };
        let console = job.logs.join("verify-console.log");
        let watch = job.watch(Purpose::Verify, &user_data.nonce, check.timeout, &console);
        let machine = self.machine(job, started + check.timeout);
        let booted = guest_boot::boot(&machine, &launch, &watch)?;
        let verified = booted.verified;
        machine.destroy(booted.running)?;
        verified.ok_or_else(|| {
            StepError::permanent("a verify boot without a verdict (a bug in pipeline)")
        })
    }
}

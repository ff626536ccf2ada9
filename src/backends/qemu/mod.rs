//! The embedded default backend: QEMU on this host. A cell boots on a qcow2
//! overlay of the cached base with a NoCloud seed (which holds the secrets;
//! made only when the VM may start, removed once it has stopped), reports on
//! a virtio-serial port, and is converted into a compressed standalone
//! qcow2 in the snapshot cache.

mod boot;
mod seed;
mod snapshot;

use super::{Backend, BaseJob, CellJob};
use crate::bases::FetchedBase;
use crate::host::accel::{Accel, Accelerator};
use crate::host::capacity;
use crate::host::qemu;
use crate::model::Recipe;
use crate::plan::{BackendSteps, Resource, StepShape};
use crate::step_error::StepResult;
use crate::targets::Artifact;
use camino::Utf8Path;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const STEPS: BackendSteps = BackendSteps {
    backend: "qemu",
    prepare: None,
    provision: Some(StepShape {
        name: "seed",
        holds: Some(Resource::Machine),
    }),
    build: StepShape {
        name: "boot",
        holds: Some(Resource::Machine),
    },
    // qemu-img convert needs no VM slot: the next VM starts meanwhile.
    export: StepShape {
        name: "snapshot",
        holds: None,
    },
};

pub struct QemuBackend<'a> {
    recipe: &'a Recipe,
    /// VMs at once.
    jobs: usize,
    state_dir: &'a Utf8Path,
    /// Chosen (maybe probed) when a run first needs it.
    accel: OnceLock<Accelerator>,
    qemu_version: OnceLock<Option<String>>,
}

impl<'a> QemuBackend<'a> {
    /// `jobs`: VMs at once; by default one per core, as far as free memory
    /// allows for `build.memory` each.
    pub fn new(recipe: &'a Recipe, jobs: Option<usize>, state_dir: &'a Utf8Path) -> Self {
        let jobs = jobs.unwrap_or_else(|| {
            capacity::default_jobs(
                capacity::cores(),
                capacity::available_memory(),
                recipe.build.memory,
            )
        });
        Self {
            recipe,
            jobs,
            state_dir,
            accel: OnceLock::new(),
            qemu_version: OnceLock::new(),
        }
    }

    fn accel(&self) -> &Accelerator {
        self.accel.get_or_init(|| {
            Accelerator::choose(
                self.recipe.image.arch,
                self.qemu_version().as_deref(),
                self.state_dir,
            )
        })
    }

    /// `qemu-system-… --version`, first line.
    fn qemu_version(&self) -> &Option<String> {
        self.qemu_version.get_or_init(|| {
            let out = std::process::Command::new(qemu::system_binary(self.recipe.image.arch))
                .arg("--version")
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
    }
}

impl Backend for QemuBackend<'_> {
    type Base = FetchedBase;
    type Built = boot::Booted;

    fn steps(&self) -> &'static BackendSteps {
        &STEPS
    }

    fn capacity(&self, resource: Resource) -> Option<usize> {
        (resource == Resource::Machine).then_some(self.jobs)
    }

    fn start(&self, cells: usize, _bases: &BTreeMap<String, String>) -> Vec<String> {
        if cells == 0 {
            return Vec::new();
        }
        let accel = self.accel();
        let mut lines: Vec<String> = accel
            .warning()
            .map(|w| format!("warning: {w}"))
            .into_iter()
            .collect();
        let vms = self.jobs.min(cells);
        let build = &self.recipe.build;
        lines.push(format!(
            "building {cells} cell{} with up to {vms} VM{} at a time ({}, {} vCPU, {} MiB each)",
            if cells == 1 { "" } else { "s" },
            if vms == 1 { "" } else { "s" },
            accel.current().as_str(),
            build.cpus,
            build.memory >> 20
        ));
        lines
    }

    fn prepare_base(&self, _job: &BaseJob, fetched: &FetchedBase) -> StepResult<FetchedBase> {
        Ok(fetched.clone())
    }

    fn provision(&self, job: &CellJob) -> StepResult<()> {
        let path = job.work.join("seed.img");
        let _ = std::fs::remove_file(&path);
        let hostname: String = job.cell.image_name.chars().take(63).collect();
        seed::write_seed(
            &path,
            &seed::SeedContent {
                instance_id: &format!("pipeline-{}", job.user_data.nonce),
                hostname: hostname.trim_end_matches(['-', '.']),
                user_data: &job.user_data.text,
                secrets: job.secrets,
            },
        )
    }

    fn build(&self, job: &CellJob, base: &FetchedBase) -> StepResult<boot::Booted> {
        let recipe = job.recipe;
        let seed = job.work.join("seed.img");
        let result = boot::boot(&boot::BootInput {
            name: &job.cell.image_name,
            base: &base.path,
            base_format: &base.format,
            base_size: base.virtual_size,
            disk_size: recipe.image.disk_size,
            seed: &seed,
            work: job.work,
            console: &job.logs.join("console.log"),
            log: &job.logs.join("boot.log"),
            arch: recipe.image.arch,
            accel: self.accel(),
            notify: job.notify,
            cpus: recipe.build.cpus,
            memory: recipe.build.memory,
            timeout: recipe.build.timeout,
            nonce: &job.user_data.nonce,
            secrets: job.secrets,
            cancel: job.cancel,
        });
        // The seed holds the secrets: it goes as soon as the VM is done.
        let _ = std::fs::remove_file(&seed);
        let _ = std::fs::remove_file(job.work.join("result.txt"));
        result
    }

    fn export(&self, job: &CellJob, built: boot::Booted) -> StepResult<Artifact> {
        let (sha256, size) = snapshot::snapshot(
            built.overlay.path(),
            job.snapshot_path,
            job.recipe.build.compression,
            &job.logs.join("snapshot.log"),
            job.cancel,
        )?;
        Ok(Artifact::file(
            job.snapshot_path.to_owned(),
            sha256,
            size,
            json!({
                "backend": STEPS.backend,
                "qemu": self.qemu_version(),
                "accelerator": built.accel.as_str(),
            }),
        ))
    }

    fn discard(&self, built: boot::Booted) -> StepResult<()> {
        // Dropping the overlay's guard removes it.
        drop(built);
        Ok(())
    }

    /// The snapshot stays in the snapshot cache: the executor forgets it
    /// once every target holds it, and a run that failed resumes from it.
    fn release(&self, _artifact: &Artifact, _adopted: bool) -> StepResult<()> {
        Ok(())
    }
}

impl QemuBackend<'_> {
    /// The accelerator builds have used so far (for tests and manifests).
    pub fn current_accel(&self) -> Option<Accel> {
        self.accel.get().map(Accelerator::current)
    }
}

//! The embedded default backend: QEMU on this host. A cell boots on a qcow2
//! overlay of the cached base with a NoCloud seed (which holds the secrets;
//! made only when the VM may start, removed once it has stopped), reports on
//! a virtio-serial port, and is converted into a compressed standalone
//! qcow2 in the snapshot cache.

mod machine;
mod seed;
pub mod settings;
mod snapshot;

use super::{Backend, BaseJob, CellJob, Machine, Verified, VerifyJob, guest_boot};
use crate::bases::FetchedBase;
use crate::files::TempPath;
use crate::guest::Purpose;
use crate::guest::{UserData, VerifyFacts};
use crate::host::accel::Accel;
use crate::host::accelerator::Accelerator;
use crate::host::capacity;
use crate::host::qemu;
use crate::model::Recipe;
use crate::output::Scrubber;
use crate::output::{Check, CheckStatus};
use crate::plan::{BackendSteps, Resource, StepShape};
use crate::state::Layout;
use crate::step::{StepError, StepResult};
use crate::targets::Artifact;
use camino::{Utf8Path, Utf8PathBuf};
use machine::{QemuLaunch, QemuMachine};
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
    // A VM (a server) again, booted from the artifact.
    verify: StepShape {
        name: "verify",
        holds: Some(Resource::Machine),
    },
};

pub struct QemuBackend<'a> {
    recipe: &'a Recipe,
    /// VMs at once.
    jobs: usize,
    layout: &'a Layout,
    /// Chosen (maybe probed) when a run first needs it.
    accel: OnceLock<Accelerator>,
    qemu_version: OnceLock<Option<String>>,
}

impl<'a> QemuBackend<'a> {
    /// `jobs`: VMs at once; by default one per core, as far as free memory
    /// allows for `build.memory` each.
    pub fn new(recipe: &'a Recipe, jobs: Option<usize>, layout: &'a Layout) -> Self {
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
            layout,
            accel: OnceLock::new(),
            qemu_version: OnceLock::new(),
        }
    }

    fn accel(&self) -> &Accelerator {
        self.accel.get_or_init(|| {
            Accelerator::choose(
                self.recipe.image.arch,
                self.qemu_version().as_deref(),
                &self.layout.state,
            )
        })
    }

    /// `qemu-system-… --version`, first line.
    fn qemu_version(&self) -> &Option<String> {
        self.qemu_version
            .get_or_init(|| tool_version(qemu::system_binary(self.recipe.image.arch)))
    }
}

impl Backend for QemuBackend<'_> {
    type Base = FetchedBase;
    type Built = Booted;
    type Exported = Artifact;

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

    fn init(&self, bases: &[(&str, &FetchedBase)]) -> Vec<Check> {
        let recipe = self.recipe;
        let arch = recipe.image.arch;
        let mut checks = Vec::new();
        let binary = qemu::system_binary(arch);
        let package = match arch {
            crate::model::Arch::X64 => "qemu-system-x86",
            crate::model::Arch::Arm64 => "qemu-system-arm",
        };
        checks.push(match self.qemu_version() {
            Some(version) => Check::ok(binary, version.clone()),
            None => Check::problem(binary, format!("not found: apt-get install {package}")),
        });
        checks.push(match tool_version("qemu-img") {
            Some(version) => Check::ok("qemu-img", version),
            None => Check::problem("qemu-img", "not found: apt-get install qemu-utils"),
        });
        if arch == crate::model::Arch::Arm64 {
            checks.push(if Utf8Path::new(qemu::AARCH64_FIRMWARE).exists() {
                Check::ok("UEFI firmware", qemu::AARCH64_FIRMWARE)
            } else {
                Check::problem(
                    "UEFI firmware",
                    format!(
                        "{} is missing: apt-get install qemu-efi-aarch64",
                        qemu::AARCH64_FIRMWARE
                    ),
                )
            });
        }
        if self.qemu_version().is_some() {
            let file =
                Accelerator::verdict_file(self.qemu_version().as_deref(), &self.layout.state);
            let known = file.exists();
            let accel = self.accel();
            let detail = match accel.warning() {
                Some(why) => format!("{}: {why}", accel.current().as_str()),
                None => format!("{}: the probe guest ran", accel.current().as_str()),
            };
            let status = if !known && file.exists() {
                CheckStatus::Created
            } else {
                CheckStatus::Ok
            };
            checks.push(Check::new("accelerator", status, detail));
        }
        let largest = bases
            .iter()
            .filter_map(|(_, b)| std::fs::metadata(&b.path).ok().map(|m| m.len()))
            .max()
            .unwrap_or(0);
        let at_once = self.jobs;
        let need = capacity::cache_need(at_once, largest);
        for (item, dir, need) in [
            ("disk (cache)", &self.layout.cache, need),
            ("disk (state)", &self.layout.state, 100 << 20),
        ] {
            checks.push(match capacity::free_disk(dir) {
                Some(free) if free >= need => Check::ok(
                    item,
                    format!("{} free in {dir}; a run needs about {}", capacity::gib(free), capacity::gib(need)),
                ),
                Some(free) => Check::problem(
                    item,
                    format!(
                        "{} free in {dir}, a run needs about {} ({at_once} VM(s) × overlay and snapshot): free some, or set PIPELINE_CACHE_DIR / PIPELINE_STATE_DIR elsewhere",
                        capacity::gib(free),
                        capacity::gib(need)
                    ),
                ),
                None => Check::problem(item, format!("cannot read the free space of {dir}")),
            });
        }
        let per_vm = capacity::vm_memory(recipe.build.memory);
        let need = at_once as u64 * per_vm;
        checks.push(match capacity::available_memory() {
            Some(free) if free >= need => Check::ok(
                "memory",
                format!(
                    "{} available; {at_once} VM(s) at once need {}",
                    capacity::gib(free),
                    capacity::gib(need)
                ),
            ),
            Some(free) => Check::problem(
                "memory",
                format!(
                    "{} available, {at_once} VM(s) at once need {}: lower --jobs or build.memory",
                    capacity::gib(free),
                    capacity::gib(need)
                ),
            ),
            None => Check::ok("memory", "unknown (no /proc/meminfo)"),
        });
        checks
    }

    fn scratch_need(&self, builds: usize, largest_base: u64) -> Option<(Utf8PathBuf, u64)> {
        let at_once = self.jobs.min(builds);
        (at_once > 0).then(|| {
            (
                self.layout.cache.clone(),
                capacity::cache_need(at_once, largest_base),
            )
        })
    }

    fn prepare_base(&self, _job: &BaseJob, fetched: &FetchedBase) -> StepResult<FetchedBase> {
        Ok(fetched.clone())
    }

    fn provision(&self, job: &CellJob) -> StepResult<()> {
        let path = job.work.join("seed.img");
        let _ = std::fs::remove_file(&path);
        seed::write_seed(
            &path,
            &seed::SeedContent {
                instance_id: &build_instance_id(&job.user_data.nonce),
                hostname: &hostname(job),
                user_data: &job.user_data.text,
                secrets: job.secrets,
                secrets_as: seed::SecretsAs::Environment,
            },
        )
    }

    fn build(&self, job: &CellJob, base: &FetchedBase) -> StepResult<Booted> {
        let seed = job.work.join("seed.img");
        let console = job.logs.join("console.log");
        let log = job.logs.join("boot.log");
        let launch = QemuLaunch {
            name: job.cell.image_name.clone(),
            image: base.path.clone(),
            format: base.format.clone(),
            image_size: base.virtual_size,
            disk_size: job.recipe.image.disk_size,
            seed: seed.clone(),
            work: job.work.to_owned(),
            log: log.clone(),
        };
        let nonce = &job.user_data.nonce;
        let watch = job.watch(Purpose::Build, nonce, job.recipe.build.timeout, &console);
        let booted = guest_boot::boot(&self.machine(job), &launch, &watch);
        // The seed holds the secrets: it goes as soon as the VM is done.
        let _ = std::fs::remove_file(&seed);
        // QEMU wrote this, not pipeline (the console is scrubbed as it is
        // written).
        Scrubber::global().scrub_file(&log);
        let booted = booted?;
        Ok(Booted {
            accel: booted.running.accel,
            overlay: booted.running.into_overlay(),
        })
    }

    fn export(&self, job: &CellJob, built: Booted) -> StepResult<Artifact> {
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

    fn verify(
        &self,
        job: &CellJob,
        artifact: &Artifact,
        check: &VerifyJob,
    ) -> StepResult<Verified> {
        let snapshot = artifact.path().ok_or_else(|| {
            StepError::permanent(format!(
                "QEMU verifies a local snapshot, not {} (a bug in pipeline)",
                artifact.describe()
            ))
        })?;
        let work = job.work.join("verify");
        crate::state::ensure_dir(&work).map_err(|e| StepError::permanent(e.to_string()))?;
        let seed = work.join("seed.img");
        let _ = std::fs::remove_file(&seed);
        let instance_id = format!("pipeline-verify-{}", crate::guest::nonce());
        let user_data = UserData::wrap_verify(
            check.script,
            &VerifyFacts {
                instance_id: Some(&instance_id),
                build_instance_id: &build_instance_id(&job.user_data.nonce),
                build_nonce: &job.user_data.nonce,
                disk_size: check.disk_size,
            },
        );
        // Kept for people debugging a check; it holds no secret value
        // (a check that spells one out gets it masked here).
        let _ = std::fs::write(
            job.logs.join("verify-user-data"),
            Scrubber::global().scrub(&user_data.text).as_ref(),
        );
        // The secrets' values travel on this boot's seed (never in its
        // user-data) so the guest can look for them on the disk.
        seed::write_seed(
            &seed,
            &seed::SeedContent {
                instance_id: &instance_id,
                hostname: &hostname(job),
                user_data: &user_data.text,
                secrets: job.secrets,
                secrets_as: seed::SecretsAs::Forbidden,
            },
        )?;
        let console = job.logs.join("verify-console.log");
        let log = job.logs.join("verify.log");
        let launch = QemuLaunch {
            name: job.cell.image_name.clone(),
            image: snapshot.to_owned(),
            format: "qcow2".to_owned(),
            image_size: 0,
            // The snapshot has the disk's size already.
            disk_size: None,
            seed,
            work: work.clone(),
            log: log.clone(),
        };
        let watch = job.watch(Purpose::Verify, &user_data.nonce, check.timeout, &console);
        let machine = self.machine(job);
        let booted = guest_boot::boot(&machine, &launch, &watch);
        Scrubber::global().scrub_file(&log);
        // The overlay goes with the machine, the seed with the directory:
        // only the snapshot stays, as it was.
        let verdict = booted.and_then(|b| {
            let verified = b.verified;
            machine.destroy(b.running)?;
            verified.ok_or_else(|| {
                StepError::permanent("a verify boot without a verdict (a bug in pipeline)")
            })
        });
        let _ = std::fs::remove_dir_all(&work);
        verdict
    }

    fn discard(&self, built: Booted) -> StepResult<()> {
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

/// The guest's hostname: the image name, as far as a hostname takes it.
fn hostname(job: &CellJob) -> String {
    let name: String = job.cell.image_name.chars().take(63).collect();
    name.trim_end_matches(['-', '.']).to_owned()
}

/// A VM that powered off after its guest reported success.
pub struct Booted {
    /// The overlay with what the guest wrote; removed when dropped.
    pub overlay: TempPath,
    /// The accelerator the successful boot ran on.
    pub accel: Accel,
}

/// The instance-id of a build's seed: new for every build.
fn build_instance_id(nonce: &str) -> String {
    format!("pipeline-{nonce}")
}

/// The first line a tool prints for `--version`.
fn tool_version(program: &str) -> Option<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

impl QemuBackend<'_> {
    /// The VMs of a job's cell.
    fn machine<'j>(&'j self, job: &'j CellJob) -> QemuMachine<'j> {
        QemuMachine {
            arch: self.recipe.image.arch,
            accel: self.accel(),
            cpus: self.recipe.build.cpus,
            memory: self.recipe.build.memory,
            cancel: job.cancel,
        }
    }

    /// The accelerator builds have used so far (for tests and manifests).
    pub fn current_accel(&self) -> Option<Accel> {
        self.accel.get().map(Accelerator::current)
    }
}

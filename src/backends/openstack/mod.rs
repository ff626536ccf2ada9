//! Builds on an OpenStack cloud's compute service. Each base is staged once
//! as an image in the build cloud's Glance (found again by its SHA-256);
//! each cell boots a builder server from it with its user-data on a config
//! drive, reports on the console (only lines with the build's nonce count),
//! is stopped and snapshotted; the snapshot streams to the targets, or is
//! adopted by a target in the same cloud. Servers and snapshots that are
//! not published are deleted on every path; a killed run's are deleted by
//! the next run of the recipe, which says so.

mod build_cloud_error;
mod flavor_choice;
mod launch;
mod nova;
mod server;
mod server_machine;
pub mod settings;
mod snapshot_image;
mod verify_boot;

use super::{Backend, BaseJob, CellJob, Verified, VerifyJob, guest_boot};
use crate::bases::FetchedBase;
use crate::files::{TempFile, TempPath};
use crate::guest::Purpose;
use crate::host::qemu_img;
use crate::model::{Compression, Recipe};
use crate::openstack::{CloudConfig, ConfigEnv, Glance, HashingReader, Session, encode};
use crate::output::{Check, CheckStatus};
use crate::plan::{BackendSteps, Resource, StepShape};
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use crate::targets::{Artifact, ArtifactSource, GlanceLocation};
use base64::Engine;
pub use build_cloud_error::BuildCloudError;
use flavor_choice::{FlavorError, Need, choose_flavor};
use nova::{Flavor, Nova};
use serde_json::{Value, json};
use server_machine::{ServerLaunch, ServerMachine};
use settings::OpenstackBuild;
use snapshot_image::SnapshotImage;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const STEPS: BackendSteps = BackendSteps {
    backend: "openstack",
    prepare: Some(StepShape {
        name: "stage",
        holds: Some(Resource::Stage),
    }),
    provision: None,
    // The server exists from boot to the end of its snapshot.
    build: StepShape {
        name: "boot",
        holds: Some(Resource::Machine),
    },
    export: StepShape {
        name: "snapshot",
        holds: Some(Resource::Machine),
    },
    // A VM (a server) again, booted from the artifact.
    verify: StepShape {
        name: "verify",
        holds: Some(Resource::Machine),
    },
};

/// Metadata (servers) and properties (images) that say what is ours.
const OWNER: &str = "pipeline_owner";
const RUN: &str = "pipeline_run";
const KIND: &str = "pipeline_kind";
const CELL: &str = "pipeline_cell";
const BASE_SHA256: &str = "pipeline_base_sha256";
/// How often the console and the server are asked for while a guest runs.
const POLL: Duration = Duration::from_secs(2);
/// Console lines read per poll: enough for the result lines and the tail.
const CONSOLE_LINES: u32 = 200;
/// How long Nova may take to stop a server, delete one, make an image.
const STOP_TIMEOUT: Duration = Duration::from_secs(300);
const IMAGE_TIMEOUT: Duration = Duration::from_secs(1800);
/// Between two tries of a create the quota refused.
const QUOTA_PAUSE: Duration = Duration::from_secs(5);

/// A base staged in the build cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBase {
    pub image_id: String,
    /// Bytes, as qemu-img reports the base.
    pub virtual_size: u64,
}

/// A cell's snapshot in the build cloud, as the targets get it, and what
/// its verify boot needs.
pub struct ExportedSnapshot {
    artifact: Artifact,
    /// The builder server's id: the instance-id the verify boot must not
    /// run as.
    build_server: String,
    /// The snapshot, when targets get a compressed copy of it and the
    /// recipe verifies: kept only for the verify boot, deleted once that is
    /// over (or, when it never ran, on release).
    for_verify: Mutex<Option<String>>,
}

impl ExportedSnapshot {
    fn take_for_verify(&self) -> Option<String> {
        // A worker that panicked holding it left nothing half-written.
        self.for_verify
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl AsRef<Artifact> for ExportedSnapshot {
    fn as_ref(&self) -> &Artifact {
        &self.artifact
    }
}

/// A builder server that stopped after its guest reported success.
#[derive(Debug)]
pub struct BuiltServer {
    pub id: String,
    pub name: String,
    pub flavor: String,
}

pub struct OpenstackBackend<'a> {
    recipe: &'a Recipe,
    settings: &'a OpenstackBuild,
    session: Arc<Session>,
    owner: String,
    run_id: String,
    /// Servers at once, settled by `start`.
    servers: OnceLock<usize>,
    flavor: OnceLock<Result<Flavor, BuildCloudError>>,
    network: OnceLock<Result<Option<String>, BuildCloudError>>,
    /// Servers of this run that exist now.
    alive: AtomicUsize,
    /// The quota (or the hosts) were full once in this run: servers start
    /// one at a time from then on (see `launch`).
    contended: AtomicBool,
    launching: Mutex<()>,
}

impl<'a> OpenstackBackend<'a> {
    /// Reads clouds.yaml only; the first call that needs the cloud
    /// authenticates.
    pub fn open(
        recipe: &'a Recipe,
        settings: &'a OpenstackBuild,
        owner: &str,
        run_id: &str,
    ) -> Result<Self, BuildCloudError> {
        let cloud =
            CloudConfig::resolve(&settings.cloud, &ConfigEnv::from_process()).map_err(|error| {
                BuildCloudError::Config {
                    cloud: settings.cloud.clone(),
                    error: Box::new(error),
                }
            })?;
        Ok(Self {
            recipe,
            settings,
            session: Arc::new(Session::new(cloud)),
            owner: owner.to_owned(),
            run_id: run_id.to_owned(),
            servers: OnceLock::new(),
            flavor: OnceLock::new(),
            network: OnceLock::new(),
            alive: AtomicUsize::new(0),
            contended: AtomicBool::new(false),
            launching: Mutex::new(()),
        })
    }

    fn nova(&self) -> Nova<'_> {
        Nova::new(&self.session)
    }

    fn glance(&self) -> Glance<'_> {
        Glance::new(&self.session)
    }

    fn cloud(&self) -> &str {
        &self.session.cloud().name
    }

    /// Delete what killed runs of this recipe left: servers and unpublished
    /// snapshots with our owner and another run (ours holds the recipe's
    /// lock, so theirs is over), and staged bases of bases the recipe no
    /// longer uses. Nothing without our owner is looked at twice.
    fn clean_up(&self, digests: &[&str]) -> StepResult<Vec<String>> {
        let mut said = Vec::new();
        for server in self.nova().servers()? {
            if server.meta(OWNER) == Some(&self.owner) && server.meta(RUN) != Some(&self.run_id) {
                let run = server.meta(RUN).unwrap_or("?").to_owned();
                self.delete_server(&server.id)?;
                said.push(format!(
                    "deleted server {} ({}) on cloud `{}`, left by run {run}, which did not finish",
                    server.name,
                    server.id,
                    self.cloud()
                ));
            }
        }
        let what = format!(
            "list the images of {} on cloud `{}`",
            self.owner,
            self.cloud()
        );
        let ours = self
            .glance()
            .list(&what, &format!("{OWNER}={}&limit=100", encode(&self.owner)))?;
        for image in ours {
            if image.property(OWNER) != Some(&self.owner) {
                continue;
            }
            let leftover = match image.property(KIND) {
                Some("snapshot") => image.property(RUN) != Some(&self.run_id),
                Some("base") => !image
                    .property(BASE_SHA256)
                    .is_some_and(|sha| digests.contains(&sha)),
                _ => false,
            };
            if leftover {
                self.glance().delete(&image.id)?;
                said.push(format!(
                    "deleted image {} ({}) on cloud `{}`: a {} this recipe no longer needs",
                    image.name,
                    image.id,
                    self.cloud(),
                    if image.property(KIND) == Some("base") {
                        "staged base"
                    } else {
                        "snapshot of a run that did not finish"
                    }
                ));
            }
        }
        Ok(said)
    }

    /// Servers at once: `servers`, else what the quota leaves room for with
    /// the flavor (at least one), at most `cells`.
    fn settle_servers(&self, cells: usize) -> StepResult<usize> {
        if let Some(n) = self.settings.servers {
            return Ok((n as usize).min(cells.max(1)));
        }
        let room = self.nova().room()?;
        let flavor = self.flavor(None).ok();
        let by = |left: Option<u64>, each: u64| left.map(|l| (l / each.max(1)) as usize);
        let limit = [
            by(room.instances, 1),
            flavor.and_then(|f| by(room.cores, u64::from(f.vcpus))),
            flavor.and_then(|f| by(room.ram, f.ram)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(cells);
        Ok(limit.clamp(1, cells.max(1)))
    }

    /// The flavor of the builder servers (found once). `base_size` is the
    /// base's virtual size when known: the disk must hold it.
    fn flavor(&self, base_size: Option<u64>) -> Result<&Flavor, BuildCloudError> {
        let recipe = self.recipe;
        let image_bytes = recipe.image.disk_size.max(base_size).unwrap_or(0);
        let need = Need {
            cpus: recipe.build.cpus,
            ram: recipe.build.memory >> 20,
            disk: image_bytes.div_ceil(1 << 30),
        };
        let chosen = self.flavor.get_or_init(|| {
            let flavors = self
                .nova()
                .flavors()
                .map_err(|e| BuildCloudError::Api(e.message))?;
            Ok(choose_flavor(
                &flavors,
                self.settings.flavor.as_deref(),
                need,
            )?)
        });
        match chosen {
            // Chosen before the base's size was known: check it now.
            Ok(f) if f.disk < need.disk => Err(FlavorError::TooSmall {
                flavor: f.name.clone(),
                what: "disk",
                has: format!("{} GiB", f.disk),
                needs: format!("the image needs {} GiB", need.disk),
                why: "disk_size, or the base's size",
            }
            .into()),
            Ok(f) => Ok(f),
            Err(e) => Err(e.clone()),
        }
    }

    /// `networks` of a server create: `"none"`, or the network given (an id
    /// as it is; a name looked up in the network service).
    fn networks(&self) -> Result<Value, BuildCloudError> {
        let network = self.network.get_or_init(|| match &self.settings.network {
            None => Ok(None),
            Some(n) if uuid::Uuid::parse_str(n).is_ok() => Ok(Some(n.clone())),
            Some(n) => self.network_id(n).map(Some),
        });
        match network {
            Ok(None) => Ok(json!("none")),
            Ok(Some(id)) => Ok(json!([{ "uuid": id }])),
            Err(e) => Err(e.clone()),
        }
    }

    fn network_id(&self, name: &str) -> Result<String, BuildCloudError> {
        let what = format!("find network `{name}` on cloud `{}`", self.cloud());
        let (status, text) = self
            .session
            .call(
                crate::openstack::Service::Network,
                &what,
                "GET",
                &format!("/v2.0/networks?name={}", encode(name)),
                None,
                &[],
            )
            .map_err(|e| BuildCloudError::Api(e.message))?;
        let ids: Vec<String> = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["networks"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n["id"].as_str().map(str::to_owned))
            .collect();
        match (status, ids.as_slice()) {
            (200, [id]) => Ok(id.clone()),
            (200, _) => Err(BuildCloudError::Network {
                name: name.to_owned(),
                cloud: self.cloud().to_owned(),
                found: ids.len(),
            }),
            (status, _) => Err(BuildCloudError::Api(format!("{what}: http {status}"))),
        }
    }

    /// Delete a server and wait until it is gone (bounded); counted out of
    /// this run's live servers.
    fn delete_server(&self, id: &str) -> StepResult<()> {
        self.nova().delete(id)?;
        let start = Instant::now();
        while start.elapsed() < STOP_TIMEOUT {
            if self.nova().server(id)?.is_none() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(StepError::transient(format!(
            "delete server {id} from cloud `{}`: it is still there after {} s",
            self.cloud(),
            STOP_TIMEOUT.as_secs()
        )))
    }

    /// A server of this run is done with: deleted, whatever happens.
    fn forget_server(&self, id: &str) -> StepResult<()> {
        let deleted = self.delete_server(id);
        self.alive.fetch_sub(1, Ordering::SeqCst);
        deleted.map_err(|e| e.context("and then"))
    }

    /// Wait until the server is `SHUTOFF` (after `os-stop`).
    fn wait_shutoff(&self, id: &str, cancel: &CancelToken) -> StepResult<()> {
        let start = Instant::now();
        loop {
            match self.nova().server(id)? {
                Some(s) if s.status == "SHUTOFF" => return Ok(()),
                Some(s) if s.status == "ERROR" => {
                    return Err(StepError::permanent(format!(
                        "nova put server {id} in ERROR while it stopped: {}",
                        s.fault.unwrap_or_default()
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(StepError::permanent(format!(
                        "server {id} disappeared from cloud `{}` while it stopped",
                        self.cloud()
                    )));
                }
            }
            if start.elapsed() > STOP_TIMEOUT {
                return Err(StepError::permanent(format!(
                    "server {id} did not stop within {} s",
                    STOP_TIMEOUT.as_secs()
                )));
            }
            cancel.sleep(Duration::from_secs(1))?;
        }
    }

    /// The staged image of a fetched base, if an earlier run (or init) made
    /// it. Snapshots inherit the base's properties: only `base` images count.
    fn find_staged(
        &self,
        name: &str,
        fetched: &FetchedBase,
    ) -> StepResult<Option<crate::openstack::GlanceImage>> {
        let what = format!("find the staged base `{name}` on cloud `{}`", self.cloud());
        let query = format!(
            "{OWNER}={}&{KIND}=base&{BASE_SHA256}={}&status=active",
            encode(&self.owner),
            encode(&fetched.sha256)
        );
        Ok(self.glance().list(&what, &query)?.into_iter().find(|i| {
            i.property(OWNER) == Some(&self.owner)
                && i.property(KIND) == Some("base")
                && i.property(BASE_SHA256) == Some(fetched.sha256.as_str())
        }))
    }

    /// The servers of a job's step, created by `deadline` at the latest.
    fn machine<'b>(&'b self, job: &'b CellJob, deadline: Instant) -> ServerMachine<'b, 'a> {
        ServerMachine {
            backend: self,
            cancel: job.cancel,
            notify: job.notify,
            deadline,
        }
    }

    /// `POST /servers`'s body: a server named `name` from `image` with
    /// `user_data` on a config drive and our `metadata`.
    fn server_body(
        &self,
        name: &str,
        image: &str,
        flavor: &Flavor,
        user_data: &str,
        metadata: Value,
    ) -> StepResult<Value> {
        let networks = self
            .networks()
            .map_err(|e| StepError::permanent(format!("build cloud `{}`: {e}", self.cloud())))?;
        Ok(json!({ "server": {
            "name": name,
            "imageRef": image,
            "flavorRef": flavor.id,
            "networks": networks,
            "config_drive": true,
            "user_data": base64::engine::general_purpose::STANDARD.encode(user_data),
            "metadata": metadata,
        }}))
    }

    /// What the manifest says built it.
    fn built_by(&self, server: &BuiltServer, snapshot: &str) -> Value {
        json!({
            "backend": STEPS.backend,
            "cloud": self.cloud(),
            "flavor": server.flavor,
            "server": server.id,
            "snapshot": snapshot,
        })
    }

    /// The snapshot of a stopped server, active in Glance.
    fn snapshot(
        &self,
        job: &CellJob,
        built: &BuiltServer,
    ) -> StepResult<crate::openstack::GlanceImage> {
        let name = truncate(&format!(
            "pipeline-snapshot-{}-{}",
            job.cell.image_name, self.run_id
        ));
        let metadata = json!({
            OWNER: self.owner,
            RUN: self.run_id,
            KIND: "snapshot",
            CELL: truncate(&job.cell.image_name),
        });
        let image = self.nova().create_image(&built.id, &name, &metadata)?;
        (job.notify)(format!(
            "snapshot {image} of server {} is being made",
            built.name
        ));
        match self.glance().wait_active(&image, IMAGE_TIMEOUT, job.cancel) {
            Ok(image) => Ok(image),
            Err(e) => {
                let _ = self.glance().delete(&image);
                Err(e)
            }
        }
    }

    /// The snapshot, downloaded and compressed into the local snapshot
    /// cache, for targets that get a compressed qcow2.
    fn compress(
        &self,
        job: &CellJob,
        image: &crate::openstack::GlanceImage,
        compression: Compression,
    ) -> StepResult<(String, u64)> {
        let download = format!("{}.download", job.snapshot_path);
        let _ = std::fs::remove_file(&download);
        let mut file = TempFile::create(download)?;
        let mut reader = self.glance().download(&image.id)?;
        let total = image.size;
        let copied = crate::files::digest::copy_hashing(
            &mut reader,
            Some(file.file()),
            None,
            job.cancel,
            &|done| (job.bytes)(done, total),
        )
        .map_err(|e| match e {
            crate::files::digest::CopyError::Cancelled => StepError::cancelled(),
            crate::files::digest::CopyError::Read(e) => StepError::transient(format!(
                "download snapshot {} from cloud `{}`: {e}",
                image.id,
                self.cloud()
            )),
            crate::files::digest::CopyError::Write(e) => {
                StepError::io(format!("failed to write {}", file.path()), &e)
            }
        })?;
        if total.is_some_and(|t| t != copied.size) {
            return Err(StepError::transient(format!(
                "download snapshot {} from cloud `{}`: {} of {} bytes",
                image.id,
                self.cloud(),
                copied.size,
                total.unwrap_or_default()
            )));
        }
        file.sync()?;
        let partial = TempPath::new(format!("{}.partial", job.snapshot_path));
        qemu_img::convert(
            compression,
            file.path(),
            partial.path(),
            &job.logs.join("snapshot.log"),
            job.cancel,
        )?;
        let (sha256, size) = crate::files::digest::sha256_file(partial.path(), job.cancel)?;
        partial.rename_to(job.snapshot_path)?.keep();
        Ok((sha256, size))
    }
}

impl Backend for OpenstackBackend<'_> {
    type Base = StagedBase;
    type Built = BuiltServer;
    type Exported = ExportedSnapshot;

    fn steps(&self) -> &'static BackendSteps {
        &STEPS
    }

    fn capacity(&self, resource: Resource) -> Option<usize> {
        match resource {
            Resource::Machine => Some(self.servers.get().copied().unwrap_or(1)),
            Resource::Stage => Some(2),
            _ => None,
        }
    }

    fn start(&self, cells: usize, digests: &BTreeMap<String, String>) -> Vec<String> {
        let digests: Vec<&str> = digests.values().map(String::as_str).collect();
        let mut lines = match self.clean_up(&digests) {
            Ok(lines) => lines,
            Err(e) => vec![format!(
                "warning: failed to clean up what earlier runs left on cloud `{}`: {}",
                self.cloud(),
                e.message
            )],
        };
        if cells == 0 {
            return lines;
        }
        let servers = match self.settle_servers(cells) {
            Ok(n) => n,
            Err(e) => {
                lines.push(format!(
                    "warning: failed to read the quota of cloud `{}` ({}); building one cell at a time",
                    self.cloud(),
                    e.message
                ));
                1
            }
        };
        let _ = self.servers.set(servers);
        lines.push(format!(
            "building {cells} cell{} on cloud `{}` with up to {servers} server{} at a time",
            if cells == 1 { "" } else { "s" },
            self.cloud(),
            if servers == 1 { "" } else { "s" },
        ));
        lines
    }

    fn init(&self, bases: &[(&str, &FetchedBase)]) -> Vec<Check> {
        let item = format!("build cloud `{}`", self.cloud());
        let token = match self.session.token() {
            Ok(token) => token,
            Err(e) => return vec![Check::problem(item, e.message)],
        };
        let mut checks = vec![Check::ok(
            item,
            format!(
                "authenticated as {} in project {}",
                self.session.cloud().user_label(),
                token.project_id.as_deref().unwrap_or("?")
            ),
        )];
        let largest = bases.iter().map(|(_, b)| b.virtual_size).max();
        let flavor = match self.flavor(largest) {
            Ok(f) => {
                checks.push(Check::ok(
                    "flavor",
                    format!(
                        "{}: {} vCPU, {} MiB, {} GiB disk",
                        f.name, f.vcpus, f.ram, f.disk
                    ),
                ));
                Some(f.clone())
            }
            Err(e) => {
                checks.push(Check::problem("flavor", e.to_string()));
                None
            }
        };
        checks.push(match self.networks() {
            Ok(n) => Check::ok(
                "network",
                if n == json!("none") {
                    "none".to_owned()
                } else {
                    n.to_string()
                },
            ),
            Err(e) => Check::problem("network", e.to_string()),
        });
        if let Some(flavor) = &flavor {
            let servers = u64::from(self.settings.servers.unwrap_or(1));
            checks.push(match self.nova().room() {
                Ok(room) => {
                    let short: Vec<String> = [
                        ("instances", room.instances, servers),
                        ("cores", room.cores, servers * u64::from(flavor.vcpus)),
                        ("RAM (MiB)", room.ram, servers * flavor.ram),
                    ]
                    .into_iter()
                    .filter_map(|(what, left, need)| {
                        left.filter(|l| *l < need)
                            .map(|l| format!("{what}: {l} left, {need} needed"))
                    })
                    .collect();
                    if short.is_empty() {
                        Check::ok("quota", format!("room for {servers} server(s) of {}", flavor.name))
                    } else {
                        Check::problem(
                            "quota",
                            format!(
                                "no room for {servers} server(s) of {} at once ({}): lower build.servers or ask for more quota",
                                flavor.name,
                                short.join("; ")
                            ),
                        )
                    }
                }
                Err(e) => Check::problem("quota", e.message),
            });
        }
        for (name, fetched) in bases {
            let item = format!("staged base {name}");
            let found = match self.find_staged(name, fetched) {
                Ok(found) => found,
                Err(e) => {
                    checks.push(Check::problem(item, e.message));
                    continue;
                }
            };
            if let Some(image) = found {
                checks.push(Check::ok(
                    item,
                    format!("image {} ({})", image.id, image.name),
                ));
                continue;
            }
            let cancel = CancelToken::new();
            let job = BaseJob {
                recipe: self.recipe,
                name,
                log: camino::Utf8Path::new("/dev/null"),
                cancel: &cancel,
                notify: &|_| {},
                bytes: &|_, _| {},
            };
            checks.push(match self.prepare_base(&job, fetched) {
                Ok(staged) => Check::new(
                    item,
                    CheckStatus::Created,
                    format!("image {} uploaded", staged.image_id),
                ),
                Err(e) => Check::problem(item, e.message),
            });
        }
        checks
    }

    fn prepare_base(&self, job: &BaseJob, fetched: &FetchedBase) -> StepResult<StagedBase> {
        if let Some(image) = self.find_staged(job.name, fetched)? {
            (job.notify)(format!(
                "base image {} is staged already ({})",
                image.id, image.name
            ));
            return Ok(StagedBase {
                image_id: image.id,
                virtual_size: fetched.virtual_size,
            });
        }
        let name = truncate(&format!(
            "pipeline-base-{}-{}-{}",
            self.recipe.name,
            job.name,
            &fetched.sha256[..12]
        ));
        let body = json!({
            "name": name,
            "disk_format": if fetched.format == "raw" { "raw" } else { "qcow2" },
            "container_format": "bare",
            "visibility": "private",
            "min_disk": fetched.virtual_size.div_ceil(1 << 30),
            OWNER: self.owner,
            KIND: "base",
            BASE_SHA256: fetched.sha256,
            "pipeline_base": job.name,
        });
        let what = format!("stage base `{}` on cloud `{}`", job.name, self.cloud());
        let created = self.glance().create(&what, &body)?;
        let staged = (|| {
            let size = std::fs::metadata(&fetched.path)
                .map_err(|e| StepError::io(format!("failed to read {}", fetched.path), &e))?
                .len();
            let file = std::fs::File::open(&fetched.path)
                .map_err(|e| StepError::io(format!("failed to open {}", fetched.path), &e))?;
            let progress = |done| (job.bytes)(done, Some(size));
            let mut reader = HashingReader::new(
                Box::new(file),
                fetched.path.to_string(),
                size,
                Some(fetched.sha256.clone()),
                false,
                job.cancel,
                &progress,
            )?;
            let (url, sent) = self.glance().upload(&created.id, size, &mut reader)?;
            if let Some(failure) = reader.failure.take() {
                return Err(failure);
            }
            match sent {
                Ok((200..=299, _)) => {}
                Ok((status, text)) => {
                    return Err(crate::http::failure::status_error(&what, status, &text));
                }
                Err(e) => return Err(crate::http::failure::transport_error(&what, &url, &e)),
            }
            self.glance()
                .wait_active(&created.id, IMAGE_TIMEOUT, job.cancel)
        })();
        match staged {
            Ok(image) => {
                (job.notify)(format!("staged base image {} ({name})", image.id));
                Ok(StagedBase {
                    image_id: image.id,
                    virtual_size: fetched.virtual_size,
                })
            }
            Err(e) => {
                let _ = self.glance().delete(&created.id);
                Err(e)
            }
        }
    }

    fn provision(&self, _job: &CellJob) -> StepResult<()> {
        // The user-data goes with the server create.
        Ok(())
    }

    fn build(&self, job: &CellJob, base: &StagedBase) -> StepResult<BuiltServer> {
        let started = Instant::now();
        // Everything that can be wrong with the settings fails here, before
        // a server exists.
        let flavor = self
            .flavor(Some(base.virtual_size))
            .map_err(|e| StepError::permanent(format!("build cloud `{}`: {e}", self.cloud())))?
            .clone();
        let name = truncate(&format!("pipeline-{}-{}", job.cell.image_name, self.run_id));
        let body = self.server_body(
            &name,
            &base.image_id,
            &flavor,
            &job.user_data.text,
            json!({
                OWNER: self.owner,
                RUN: self.run_id,
                CELL: truncate(&job.cell.image_name),
                "pipeline_image": base.image_id,
            }),
        )?;
        let flavor_name = flavor.name.clone();
        let launch = ServerLaunch {
            body,
            name: name.clone(),
            noun: "server",
            created: Box::new(move |id| {
                format!("server {name} ({id}) created with flavor {flavor_name}")
            }),
        };
        let timeout = job.recipe.build.timeout;
        let console = job.logs.join("console.log");
        let watch = job.watch(Purpose::Build, &job.user_data.nonce, timeout, &console);
        let booted = guest_boot::boot(&self.machine(job, started + timeout), &launch, &watch)?;
        (job.notify)(format!(
            "server {} stopped after {}",
            booted.running.name,
            humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
        ));
        Ok(BuiltServer {
            id: booted.running.id,
            name: booted.running.name,
            flavor: flavor.name,
        })
    }

    fn export(&self, job: &CellJob, built: BuiltServer) -> StepResult<ExportedSnapshot> {
        let image = match self.snapshot(job, &built) {
            Ok(image) => image,
            Err(e) => {
                let _ = self.forget_server(&built.id);
                return Err(e);
            }
        };
        // The snapshot holds everything now: the server goes.
        self.forget_server(&built.id)?;
        let built_by = self.built_by(&built, &image.id);
        let artifact = match job.recipe.build.compression {
            Compression::None => {
                let size = image.size.ok_or_else(|| {
                    StepError::transient(format!("snapshot {} has no size in glance", image.id))
                })?;
                let token = self.session.token()?;
                let location = GlanceLocation {
                    image_root: token
                        .root(crate::openstack::Service::Image)
                        .map_err(|e| StepError::permanent(e.to_string()))?,
                    project_id: token.project_id.clone(),
                    image_id: image.id.clone(),
                };
                return Ok(ExportedSnapshot {
                    artifact: Artifact {
                        size,
                        sha256: None,
                        source: ArtifactSource::Stream(Arc::new(SnapshotImage {
                            session: self.session.clone(),
                            location,
                        })),
                        built_by,
                    },
                    build_server: built.id,
                    for_verify: Mutex::new(None),
                });
            }
            compression => {
                let compressed = self.compress(job, &image, compression);
                let (sha256, size) = match compressed {
                    Ok(done) => done,
                    Err(e) => {
                        let _ = self.glance().delete(&image.id);
                        return Err(e);
                    }
                };
                Artifact::file(job.snapshot_path.to_owned(), sha256, size, built_by)
            }
        };
        // The compressed copy is what the targets get; the snapshot stays
        // only for verify to boot.
        let for_verify = if job.recipe.verify.is_some() {
            Some(image.id.clone())
        } else {
            self.glance().delete(&image.id)?;
            None
        };
        Ok(ExportedSnapshot {
            artifact,
            build_server: built.id,
            for_verify: Mutex::new(for_verify),
        })
    }

    fn verify(
        &self,
        job: &CellJob,
        exported: &ExportedSnapshot,
        check: &VerifyJob,
    ) -> StepResult<Verified> {
        let kept = exported.take_for_verify();
        let image = exported
            .artifact
            .glance_image()
            .map(|g| g.image_id.clone())
            .or_else(|| kept.clone());
        let verdict = match image {
            Some(image) => self.verify_on_server(job, &image, &exported.build_server, check),
            None => Err(StepError::permanent(format!(
                "{} is not an image in cloud `{}` (a bug in pipeline)",
                exported.artifact.describe(),
                self.cloud()
            ))),
        };
        if let Some(snapshot) = &kept
            && let Err(e) = self.glance().delete(snapshot)
        {
            return Err(match verdict {
                Ok(_) => e,
                Err(v) => v.context(e.message),
            });
        }
        verdict
    }

    fn discard(&self, built: BuiltServer) -> StepResult<()> {
        self.forget_server(&built.id)
    }

    fn release(&self, exported: &ExportedSnapshot, adopted: bool) -> StepResult<()> {
        // A snapshot kept for a verify step that never ran.
        if let Some(snapshot) = exported.take_for_verify() {
            self.glance().delete(&snapshot)?;
        }
        match exported.artifact.glance_image() {
            Some(image) if !adopted => self.glance().delete(&image.image_id),
            _ => Ok(()),
        }
    }
}

/// Nova and Glance take names and metadata values of 255 characters.
fn truncate(text: &str) -> String {
    text.chars().take(255).collect()
}

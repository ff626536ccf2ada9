//! Jobs: a planned step with the data it needs, handed by the scheduler to
//! a worker thread, which turns it into a [`Done`]. Retries of transient
//! failures happen here.

use super::manifest::{build_record, manifest};
use super::{Message, Progress, RunContext};
use crate::backends::{Backend, BaseJob, CellJob, VerifyJob};
use crate::bases::{self, FetchedBase};
use crate::guest::UserData;
use crate::model::{BaseId, CellId, TargetId};
use crate::output::Scrubber;
use crate::state::ensure_dir;
use crate::step::{StepError, StepResult};
use crate::targets::{Artifact, ImageMeta, Revision, doomed};
use petgraph::graph::NodeIndex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Attempts for a step whose failures are transient.
const ATTEMPTS: u32 = 3;

/// Seconds each finished step of a cell took, by step id.
pub type Timings = BTreeMap<String, f64>;

pub enum Job<B: Backend> {
    Fetch {
        base: BaseId,
    },
    Prepare {
        base: BaseId,
        fetched: FetchedBase,
    },
    Render {
        cell: CellId,
    },
    Provision {
        cell: CellId,
        user_data: Arc<UserData>,
    },
    Build {
        cell: CellId,
        user_data: Arc<UserData>,
        base: B::Base,
    },
    Export {
        cell: CellId,
        user_data: Arc<UserData>,
        built: B::Built,
        timings: Timings,
    },
    Verify {
        cell: CellId,
        user_data: Arc<UserData>,
        artifact: Arc<B::Exported>,
        timings: Timings,
    },
    /// `artifact` is `None` for a cell that only uploads a snapshot cached
    /// by an earlier run.
    Upload {
        cell: CellId,
        target: TargetId,
        artifact: Option<Arc<B::Exported>>,
    },
    Record {
        cell: CellId,
        uploads: Vec<(TargetId, Revision)>,
        artifact: Option<Arc<B::Exported>>,
        adopted: bool,
        /// What the verify step recorded, when the cell had one this run.
        verified: Option<serde_json::Value>,
        timings: Timings,
    },
    Prune {
        cell: CellId,
        target: TargetId,
        made: Box<Revision>,
    },
}

/// What a finished job hands to the scheduler.
pub enum Done<B: Backend> {
    /// A fetched base, for the backend's prepare step.
    Fetched(FetchedBase),
    /// A base ready for the backend (by fetch itself when the backend has
    /// no prepare step).
    Prepared(B::Base),
    Rendered(UserData),
    Provisioned,
    Built(B::Built),
    Exported(B::Exported),
    /// The artifact passed verify: what the manifest records of it.
    Verified(serde_json::Value),
    /// A new revision on the target; `true` when the target adopted the
    /// artifact instead of copying it.
    Uploaded(Box<Revision>, bool),
    /// Every revision of the cell's current image, by target index.
    Recorded(Vec<(TargetId, Revision)>),
    Pruned(Vec<Revision>),
}

/// Perform `job` for `node`; the result and progress go to the scheduler.
pub fn perform<B: Backend>(
    ctx: &RunContext<B>,
    node: NodeIndex,
    job: Job<B>,
    tx: &Sender<Message<B>>,
) -> StepResult<Done<B>> {
    ctx.cancel.check()?;
    let progress = |p: Progress| {
        let _ = tx.send(Message::Progress(node, p));
    };
    let notify = |note: String| progress(Progress::Note(note));
    let bytes = |done: u64, total: Option<u64>| progress(Progress::Bytes(done, total));
    let console_line = |line: String| progress(Progress::Console(line));
    match job {
        // A machine is not started twice: the backend retries what is
        // worth retrying inside.
        Job::Build {
            cell,
            user_data,
            base,
        } => {
            let job = cell_job(ctx, cell, &user_data, &notify, &bytes, &console_line)?;
            ctx.backend.build(&job.job(), &base).map(Done::Built)
        }
        Job::Export {
            cell,
            user_data,
            built,
            timings,
        } => {
            let job = cell_job(ctx, cell, &user_data, &notify, &bytes, &console_line)?;
            let exported = ctx.backend.export(&job.job(), built)?;
            // With `[verify]`, only a verified snapshot is kept to resume from.
            if ctx.recipe.verify.is_none() {
                commit_snapshot(ctx, &job, exported.as_ref(), &timings, None)?;
            }
            Ok(Done::Exported(exported))
        }
        Job::Verify {
            cell,
            user_data,
            artifact,
            timings,
        } => {
            let job = cell_job(ctx, cell, &user_data, &notify, &bytes, &console_line)?;
            verify(ctx, &job, &artifact, &timings)
        }
        job => retrying(ctx, &progress, || once(ctx, &job, &notify, &bytes)),
    }
}

/// Try `attempt` up to [`ATTEMPTS`] times while it fails transiently.
fn retrying<T>(
    ctx: &RunContext<impl Backend>,
    progress: &dyn Fn(Progress),
    attempt: impl Fn() -> StepResult<T>,
) -> StepResult<T> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if e.is_transient() && tries < ATTEMPTS => {
                progress(Progress::Retry {
                    attempt: tries,
                    error: e.message.clone(),
                });
                // 2 s, then 8 s: enough for a blip, bounded for a real outage.
                let pause = Duration::from_secs(2 * 4u64.pow(tries - 1));
                let until = std::time::Instant::now() + pause;
                while std::time::Instant::now() < until {
                    ctx.cancel.check()?;
                    std::thread::sleep(Duration::from_millis(100));
                }
                tries += 1;
            }
            other => return other,
        }
    }
}

/// One attempt at a job that may be retried (its inputs are borrowed).
fn once<B: Backend>(
    ctx: &RunContext<B>,
    job: &Job<B>,
    notify: &(dyn Fn(String) + Sync),
    bytes: &(dyn Fn(u64, Option<u64>) + Sync),
) -> StepResult<Done<B>> {
    let recipe = ctx.recipe;
    match job {
        Job::Fetch { base } => {
            let (name, base) = recipe
                .bases
                .get_index(base.index())
                .ok_or_else(|| StepError::permanent(format!("no base {base} in the recipe")))?;
            let log_path = ctx.run_dir.join(format!("fetch-{name}.log"));
            let log = |line: &str| append(&log_path, line);
            let cache_dir = ctx.layout.bases();
            let proxy =
                (!recipe.services.proxy.is_empty()).then_some(recipe.services.proxy.as_str());
            let fetched = bases::fetch(
                base,
                &bases::FetchOptions {
                    cache_dir: &cache_dir,
                    proxy,
                    cancel: &ctx.cancel,
                    log: &log,
                    progress: bytes,
                },
            )?;
            if ctx.backend.steps().prepare.is_some() {
                return Ok(Done::Fetched(fetched));
            }
            let job = base_job(ctx, name, &log_path, notify, bytes);
            ctx.backend.prepare_base(&job, &fetched).map(Done::Prepared)
        }
        Job::Prepare { base, fetched } => {
            let name = recipe
                .bases
                .get_index(base.index())
                .map_or("", |(n, _)| n.as_str());
            let step = ctx.backend.steps().prepare.map_or("prepare", |s| s.name);
            let log_path = ctx.run_dir.join(format!("{step}-{name}.log"));
            let job = base_job(ctx, name, &log_path, notify, bytes);
            ctx.backend.prepare_base(&job, fetched).map(Done::Prepared)
        }
        Job::Render { cell } => {
            let cell = &recipe.cells[*cell];
            let script = recipe
                .render(cell, &ctx.secrets.names())
                .map_err(|d| StepError::permanent(d.to_string()))?;
            let user_data = UserData::wrap(&script);
            let logs = ctx.cell_log_dir(cell);
            ensure_dir(&logs).map_err(|e| StepError::permanent(e.to_string()))?;
            // Kept for people debugging a template; it never holds secret
            // values (a recipe that spells one out gets it masked here).
            let _ = std::fs::write(
                logs.join("user-data"),
                Scrubber::global().scrub(&user_data.text).as_ref(),
            );
            Ok(Done::Rendered(user_data))
        }
        Job::Provision { cell, user_data } => {
            let job = cell_job(ctx, *cell, user_data, notify, bytes, &|_| {})?;
            ctx.backend
                .provision(&job.job())
                .map(|()| Done::Provisioned)
        }
        Job::Upload {
            cell,
            target,
            artifact,
        } => upload(
            ctx,
            *cell,
            *target,
            artifact.as_deref().map(AsRef::as_ref),
            bytes,
        ),
        Job::Record {
            cell,
            uploads,
            artifact,
            adopted,
            verified,
            timings,
        } => record(
            ctx,
            *cell,
            uploads,
            artifact.as_deref(),
            *adopted,
            verified.as_ref(),
            timings,
        ),
        Job::Prune { cell, target, made } => {
            let cell = &recipe.cells[*cell];
            let store = &ctx.stores[target.index()];
            let keep = recipe.targets[*target].keep as usize;
            let listing = store.list(&cell.image_name, &ctx.owner)?;
            let log_path = ctx
                .cell_log_dir(cell)
                .join(format!("prune-{}.log", store.name()));
            for warning in &listing.warnings {
                append(&log_path, &format!("warning: {warning}"));
            }
            // Every doomed revision that can go goes; the failures are
            // reported together (a retry lists again and finishes the rest).
            let mut deleted = Vec::new();
            let mut failures: Vec<StepError> = Vec::new();
            for doomed in doomed(&listing, keep, Some(&made.id)) {
                ctx.cancel.check()?;
                let revision = doomed.revision;
                match store.delete(revision) {
                    Ok(()) => {
                        let line = match doomed.damaged {
                            Some(problem) => {
                                notify(format!("removed the damaged {} ({problem})", revision.id));
                                format!(
                                    "deleted {} (created {}; damaged: {problem})",
                                    revision.id, revision.created_at
                                )
                            }
                            None => {
                                format!("deleted {} (created {})", revision.id, revision.created_at)
                            }
                        };
                        append(&log_path, &line);
                        deleted.push(revision.clone());
                    }
                    Err(e) => {
                        append(
                            &log_path,
                            &format!("failed to delete {}: {}", revision.id, e.message),
                        );
                        failures.push(e.context(format_args!("{}", revision.id)));
                    }
                }
            }
            if failures.is_empty() {
                return Ok(Done::Pruned(deleted));
            }
            let message = format!(
                "{} of {} revisions could not be deleted:\n{}",
                failures.len(),
                failures.len() + deleted.len(),
                failures
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Err(if failures.iter().any(StepError::is_transient) {
                StepError::transient(message)
            } else {
                StepError::permanent(message)
            })
        }
        Job::Build { .. } | Job::Export { .. } | Job::Verify { .. } => Err(StepError::permanent(
            "a build machine is never started twice (a bug in pipeline)",
        )),
    }
}

/// Keep a local snapshot in the snapshot cache, by input key: if an upload
/// fails, the next run resumes from here instead of booting again.
fn commit_snapshot<B: Backend>(
    ctx: &RunContext<B>,
    job: &OwnedCellJob<B>,
    artifact: &Artifact,
    timings: &Timings,
    verified: Option<&serde_json::Value>,
) -> StepResult<()> {
    if artifact.path() != Some(&job.snapshot_path) {
        return Ok(());
    }
    let build = build_record(&ctx.run_id, timings, &artifact.built_by, verified);
    ctx.snapshots
        .commit(
            &ctx.decision(job.cell).key.key,
            &ctx.recipe.cells[job.cell].image_name,
            artifact,
            &build,
        )
        .map_err(|e| StepError::io("failed to record the snapshot", &e))
}

/// Boot the artifact once more with the cell's verify script. A snapshot
/// that fails is removed: nothing unverified is kept to resume from.
fn verify<B: Backend>(
    ctx: &RunContext<B>,
    job: &OwnedCellJob<B>,
    exported: &B::Exported,
    timings: &Timings,
) -> StepResult<Done<B>> {
    let artifact = exported.as_ref();
    let recipe = ctx.recipe;
    let cell = &recipe.cells[job.cell];
    let (Some(settings), Some(script)) = (
        recipe.verify.as_ref(),
        recipe.render_verify(cell, &ctx.secrets.names()),
    ) else {
        return Err(StepError::permanent(
            "a verify step in a recipe without [verify] (a bug in pipeline)",
        ));
    };
    let script = script.map_err(|d| StepError::permanent(d.to_string()))?;
    let check = VerifyJob {
        script: &script,
        disk_size: recipe.image.disk_size.unwrap_or(0),
        timeout: settings.timeout,
    };
    match ctx.backend.verify(&job.job(), exported, &check) {
        Ok(verified) => {
            (job.notify)(format!(
                "{} checks and the verify script passed in {} s",
                verified.checks.len(),
                verified.elapsed.as_secs()
            ));
            let record = verified.record();
            commit_snapshot(ctx, job, artifact, timings, Some(&record))?;
            Ok(Done::Verified(record))
        }
        Err(e) => {
            if artifact.path() == Some(&job.snapshot_path) {
                ctx.snapshots.remove(&ctx.decision(job.cell).key.key);
            }
            Err(e)
        }
    }
}

fn upload<B: Backend>(
    ctx: &RunContext<B>,
    cell: CellId,
    target: TargetId,
    artifact: Option<&Artifact>,
    bytes: &(dyn Fn(u64, Option<u64>) + Sync),
) -> StepResult<Done<B>> {
    let recipe = ctx.recipe;
    let decision = ctx.decision(cell);
    let cached;
    let artifact = match artifact {
        Some(a) => a,
        None => {
            cached = ctx.snapshots.get(&decision.key.key).ok_or_else(|| {
                StepError::permanent(format!(
                    "the cached snapshot {} is gone; run again to rebuild",
                    ctx.snapshots.image_path(&decision.key.key)
                ))
            })?;
            &cached
        }
    };
    let cell = &recipe.cells[cell];
    let base = &recipe.bases[cell.base()];
    let store = &ctx.stores[target.index()];
    let meta = ImageMeta {
        name: cell.image_name.clone(),
        owner: ctx.owner.clone(),
        arch: recipe.image.arch.to_string(),
        base: cell.base().to_owned(),
        cell: cell
            .values()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        sha256: artifact.sha256.clone().unwrap_or_default(),
        size: artifact.size,
        recipe_hash: ctx.recipe_hash.clone(),
        input_key: Some(decision.key.key.clone()),
        inputs: decision.key.inputs.clone(),
        os_distro: base.os_distro.clone(),
        os_version: base.os_version.clone(),
    };
    let log = ctx
        .cell_log_dir(cell)
        .join(format!("upload-{}.log", store.name()));
    if let Some(adopted) = store.adopt(artifact, &meta) {
        let revision = adopted?;
        append(
            &log,
            &format!("adopted {} as {}", artifact.describe(), revision.id),
        );
        return Ok(Done::Uploaded(Box::new(revision), true));
    }
    let total = artifact.size;
    let revision = store.upload(artifact, &meta, &ctx.cancel, &|done| {
        bytes(done, Some(total))
    })?;
    append(
        &log,
        &format!("uploaded {} as {}", artifact.describe(), revision.id),
    );
    Ok(Done::Uploaded(Box::new(revision), false))
}

fn record<B: Backend>(
    ctx: &RunContext<B>,
    cell: CellId,
    uploads: &[(TargetId, Revision)],
    exported: Option<&B::Exported>,
    adopted: bool,
    verified: Option<&serde_json::Value>,
    timings: &Timings,
) -> StepResult<Done<B>> {
    let decision = ctx.decision(cell);
    let cell = &ctx.recipe.cells[cell];
    // This run's uploads, and for the other targets the image they
    // already held.
    let mut revisions: Vec<(TargetId, Revision)> = uploads.to_vec();
    for (t, rev) in &decision.present {
        if !revisions.iter().any(|(u, _)| u == t) {
            revisions.push((*t, rev.clone()));
        }
    }
    revisions.sort_by_key(|(t, _)| *t);
    // Every copy must hold the same bytes (an artifact that streamed
    // without a known SHA-256 was hashed by each target that copied it; one
    // that adopted it has none).
    let hashed: Vec<&(TargetId, Revision)> = revisions
        .iter()
        .filter(|(_, r)| !r.meta.sha256.is_empty())
        .collect();
    if let Some((_, first)) = hashed.first()
        && let Some((t, other)) = hashed
            .iter()
            .find(|(_, r)| r.meta.sha256 != first.meta.sha256)
    {
        return Err(StepError::permanent(format!(
            "the copies differ: {} has sha256 {}, target `{}` has {}",
            first.id, first.meta.sha256, ctx.recipe.targets[*t].name, other.meta.sha256
        )));
    }
    // How the bytes the targets hold were built: by this run, or by the
    // earlier run that cached them. Never a record of other bytes.
    let sha256 = hashed.first().map_or("", |(_, r)| r.meta.sha256.as_str());
    let build = match (
        exported,
        ctx.snapshots.build_record(&decision.key.key, sha256),
    ) {
        (Some(e), _) => build_record(&ctx.run_id, timings, &e.as_ref().built_by, verified),
        (None, Some(cached)) => cached,
        (None, None) => {
            return Err(StepError::permanent(format!(
                "no build record describes the image with sha256 {sha256}; run again with --force to rebuild it"
            )));
        }
    };
    let manifest = manifest(ctx, cell, decision, &revisions, &build, timings);
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    let logs = ctx.cell_log_dir(cell);
    ensure_dir(&logs).map_err(|e| StepError::permanent(e.to_string()))?;
    std::fs::write(logs.join("manifest.json"), format!("{text}\n"))
        .map_err(|e| StepError::io("failed to write the manifest", &e))?;
    for (t, rev) in &revisions {
        ctx.stores[t.index()].attach_manifest(rev, &manifest)?;
    }
    // Every target holds the image now: the artifact has done its job.
    ctx.snapshots.remove(&decision.key.key);
    if let Some(exported) = exported {
        ctx.backend.release(exported, adopted)?;
    }
    Ok(Done::Recorded(revisions))
}

/// A [`CellJob`] with the directories it names created.
struct OwnedCellJob<'a, B: Backend> {
    ctx: &'a RunContext<'a, B>,
    cell: CellId,
    user_data: &'a UserData,
    logs: camino::Utf8PathBuf,
    work: camino::Utf8PathBuf,
    snapshot_path: camino::Utf8PathBuf,
    notify: &'a (dyn Fn(String) + Sync),
    bytes: &'a (dyn Fn(u64, Option<u64>) + Sync),
    console_line: &'a (dyn Fn(String) + Sync),
}

impl<'a, B: Backend> OwnedCellJob<'a, B> {
    fn job(&self) -> CellJob<'_> {
        CellJob {
            recipe: self.ctx.recipe,
            cell: &self.ctx.recipe.cells[self.cell],
            user_data: self.user_data,
            secrets: self.ctx.secrets,
            logs: &self.logs,
            work: &self.work,
            snapshot_path: &self.snapshot_path,
            cancel: &self.ctx.cancel,
            notify: self.notify,
            bytes: self.bytes,
            console_line: self.console_line,
        }
    }
}

fn cell_job<'a, B: Backend>(
    ctx: &'a RunContext<'a, B>,
    cell: CellId,
    user_data: &'a UserData,
    notify: &'a (dyn Fn(String) + Sync),
    bytes: &'a (dyn Fn(u64, Option<u64>) + Sync),
    console_line: &'a (dyn Fn(String) + Sync),
) -> StepResult<OwnedCellJob<'a, B>> {
    let c = &ctx.recipe.cells[cell];
    let logs = ctx.cell_log_dir(c);
    let work = ctx.cell_work_dir(c);
    for dir in [&logs, &work, &ctx.snapshots.dir().to_owned()] {
        ensure_dir(dir).map_err(|e| StepError::permanent(e.to_string()))?;
    }
    Ok(OwnedCellJob {
        ctx,
        cell,
        user_data,
        logs,
        work,
        snapshot_path: ctx.snapshots.image_path(&ctx.decision(cell).key.key),
        notify,
        bytes,
        console_line,
    })
}

fn base_job<'a, B: Backend>(
    ctx: &'a RunContext<'a, B>,
    name: &'a str,
    log: &'a camino::Utf8Path,
    notify: &'a (dyn Fn(String) + Sync),
    bytes: &'a (dyn Fn(u64, Option<u64>) + Sync),
) -> BaseJob<'a> {
    BaseJob {
        recipe: ctx.recipe,
        name,
        log,
        cancel: &ctx.cancel,
        notify,
        bytes,
    }
}

/// Append one timestamped line to a log file, scrubbed; logging never
/// fails a step.
pub fn append(path: &camino::Utf8Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            f,
            "{} {}",
            jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now()),
            Scrubber::global().scrub(line)
        );
    }
}

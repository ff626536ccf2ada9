//! Performing one step on a worker thread: turn the outputs of the steps it
//! needs into its own output. Retries of transient failures happen here.

use super::{Message, Progress, RunContext, StepOutput};
use crate::layout::ensure_dir;
use crate::plan::{Step, StepKind};
use crate::step_error::{StepError, StepResult};
use crate::steps::{boot, fetch, render, seed, snapshot};
use crate::targets::{ImageMeta, prunable};
use petgraph::graph::NodeIndex;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Attempts for a step whose failures are transient.
const ATTEMPTS: u32 = 3;

pub fn perform(
    ctx: &RunContext,
    node: NodeIndex,
    step: &Step,
    inputs: &[StepOutput],
    tx: &Sender<Message>,
) -> StepResult<StepOutput> {
    let mut attempt = 1;
    let start = std::time::Instant::now();
    loop {
        ctx.cancel.check()?;
        let result = perform_once(ctx, node, step, inputs, tx);
        if result.is_ok() {
            ctx.timings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    step.id.clone(),
                    (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                );
        }
        match result {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                let _ = tx.send(Message::Progress(
                    node,
                    Progress::Retry {
                        attempt,
                        error: e.message.clone(),
                    },
                ));
                // 2 s, then 8 s: enough for a blip, bounded for a real outage.
                let pause = Duration::from_secs(2 * 4u64.pow(attempt - 1));
                let until = std::time::Instant::now() + pause;
                while std::time::Instant::now() < until {
                    ctx.cancel.check()?;
                    std::thread::sleep(Duration::from_millis(100));
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn perform_once(
    ctx: &RunContext,
    node: NodeIndex,
    step: &Step,
    inputs: &[StepOutput],
    tx: &Sender<Message>,
) -> StepResult<StepOutput> {
    let recipe = ctx.recipe;
    if step.kind == StepKind::Fetch {
        let name = step.base.as_deref().expect("a fetch step names its base");
        let base = &recipe.bases[name];
        let log_path = ctx.run_dir.join(format!("fetch-{name}.log"));
        let log = |line: &str| append(&log_path, line);
        let progress = |done: u64, total: Option<u64>| {
            let _ = tx.send(Message::Progress(node, Progress::Bytes(done, total)));
        };
        let bases = ctx.layout.bases();
        ensure_dir(&bases).map_err(|e| StepError::permanent(e.to_string()))?;
        let proxy = (!recipe.services.proxy.is_empty()).then_some(recipe.services.proxy.as_str());
        let opts = fetch::FetchOptions {
            cache_dir: &bases,
            proxy,
            cancel: &ctx.cancel,
            log: &log,
            progress: &progress,
        };
        return fetch::fetch(base, &opts).map(StepOutput::Fetched);
    }

    let cell = &recipe.cells[step.cell.expect("a cell step names its cell")];
    let logs = ctx.cell_log_dir(cell);
    let work = ctx.cell_work_dir(cell);
    for dir in [&logs, &work] {
        ensure_dir(dir).map_err(|e| StepError::permanent(e.to_string()))?;
    }
    match step.kind {
        StepKind::Fetch => unreachable!("handled above"),
        StepKind::Render => {
            let script = recipe
                .render(cell, &ctx.secrets.names())
                .map_err(|d| StepError::permanent(d.to_string()))?;
            let nonce = render::nonce();
            let user_data = render::user_data(&script, &nonce);
            // Kept for people debugging a template; it never holds secret values.
            let _ = std::fs::write(logs.join("user-data"), &user_data);
            Ok(StepOutput::Rendered { user_data, nonce })
        }
        StepKind::Seed => {
            let Some(StepOutput::Rendered { user_data, nonce }) =
                find(inputs, |o| matches!(o, StepOutput::Rendered { .. }))
            else {
                unreachable!("seed needs render");
            };
            let path = work.join("seed.img");
            let _ = std::fs::remove_file(&path);
            let hostname: String = cell.image_name.chars().take(63).collect();
            seed::write_seed(
                &path,
                &seed::SeedContent {
                    instance_id: &format!("pipeline-{nonce}"),
                    hostname: hostname.trim_end_matches(['-', '.']),
                    user_data,
                    secrets: ctx.secrets,
                },
            )?;
            Ok(StepOutput::Seeded {
                seed: path,
                nonce: nonce.clone(),
            })
        }
        StepKind::Boot => {
            let Some(StepOutput::Fetched(base)) =
                find(inputs, |o| matches!(o, StepOutput::Fetched(_)))
            else {
                unreachable!("boot needs fetch");
            };
            let Some(StepOutput::Seeded { seed, nonce }) =
                find(inputs, |o| matches!(o, StepOutput::Seeded { .. }))
            else {
                unreachable!("boot needs seed");
            };
            let result = boot::boot(&boot::BootInput {
                name: &cell.image_name,
                base: &base.path,
                base_format: &base.format,
                base_size: base.virtual_size,
                disk_size: recipe.image.disk_size,
                seed,
                work: &work,
                console: &logs.join("console.log"),
                log: &logs.join("boot.log"),
                arch: recipe.image.arch,
                accel: &ctx.accel,
                notify: &|note| {
                    let _ = tx.send(Message::Progress(node, Progress::Note(note)));
                },
                cpus: recipe.build.cpus,
                memory: recipe.build.memory,
                timeout: recipe.build.timeout,
                nonce,
                secrets: ctx.secrets,
                cancel: &ctx.cancel,
            });
            // The seed holds the secrets: it goes as soon as the VM is done.
            let _ = std::fs::remove_file(seed);
            let _ = std::fs::remove_file(work.join("result.txt"));
            result.map(|b| StepOutput::Booted {
                overlay: b.overlay,
                accel: b.accel,
            })
        }
        StepKind::Snapshot => {
            let Some(StepOutput::Booted { overlay, accel }) =
                find(inputs, |o| matches!(o, StepOutput::Booted { .. }))
            else {
                unreachable!("snapshot needs boot");
            };
            // Into the snapshot cache, by input key: if an upload fails, the
            // next run resumes from here instead of booting again.
            let key = &ctx.decision(step.cell.expect("a cell step")).key.key;
            ensure_dir(ctx.snapshots.dir()).map_err(|e| StepError::permanent(e.to_string()))?;
            let result = snapshot::snapshot(
                overlay,
                &ctx.snapshots.image_path(key),
                recipe.build.compression,
                &logs.join("snapshot.log"),
                &ctx.cancel,
            );
            let _ = std::fs::remove_file(overlay);
            let snap = result?;
            let build = build_record(ctx, cell, *accel);
            ctx.snapshots
                .commit(key, &cell.image_name, &snap, &build)
                .map_err(|e| StepError::io("failed to record the snapshot", &e))?;
            Ok(StepOutput::Snapshot(snap))
        }
        StepKind::Upload => {
            let decision = ctx.decision(step.cell.expect("a cell step"));
            let cached;
            let snap = match find(inputs, |o| matches!(o, StepOutput::Snapshot(_))) {
                Some(StepOutput::Snapshot(snap)) => snap,
                _ => {
                    cached = ctx.snapshots.get(&decision.key.key).ok_or_else(|| {
                        StepError::permanent(format!(
                            "the cached snapshot {} is gone; run again to rebuild",
                            ctx.snapshots.image_path(&decision.key.key)
                        ))
                    })?;
                    &cached
                }
            };
            let target = step.target.expect("an upload names its target");
            let store = &ctx.stores[target];
            let meta = ImageMeta {
                name: cell.image_name.clone(),
                owner: ctx.owner.clone(),
                arch: recipe.image.arch.to_string(),
                base: cell.base().to_owned(),
                cell: cell
                    .values()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                sha256: snap.sha256.clone(),
                size: snap.size,
                recipe_hash: ctx.recipe_hash.clone(),
                input_key: Some(decision.key.key.clone()),
                inputs: decision.key.inputs.clone(),
                os_distro: recipe.bases[cell.base()].os_distro.clone(),
                os_version: recipe.bases[cell.base()].os_version.clone(),
            };
            let total = snap.size;
            let progress = |done: u64| {
                let _ = tx.send(Message::Progress(node, Progress::Bytes(done, Some(total))));
            };
            let revision = store.upload(&snap.path, &meta, &ctx.cancel, &progress)?;
            append(
                &logs.join(format!("upload-{}.log", store.name())),
                &format!("uploaded {} as {}", snap.path, revision.id),
            );
            Ok(StepOutput::Uploaded(target, Box::new(revision)))
        }
        StepKind::Record => {
            let decision = ctx.decision(step.cell.expect("a cell step"));
            // This run's uploads, and for the other targets the image they
            // already held.
            let mut revisions: Vec<(usize, crate::targets::Revision)> = inputs
                .iter()
                .filter_map(|input| match input {
                    StepOutput::Uploaded(t, rev) => Some((*t, (**rev).clone())),
                    _ => None,
                })
                .collect();
            for (t, rev) in &decision.present {
                if !revisions.iter().any(|(u, _)| u == t) {
                    revisions.push((*t, rev.clone()));
                }
            }
            revisions.sort_by_key(|(t, _)| *t);
            let manifest = super::manifest::manifest(ctx, cell, decision, &revisions);
            let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
            std::fs::write(logs.join("manifest.json"), format!("{text}\n"))
                .map_err(|e| StepError::io("failed to write the manifest", &e))?;
            for (t, rev) in &revisions {
                ctx.stores[*t].attach_manifest(rev, &manifest)?;
            }
            // Every target holds the image now: the cached snapshot has done its job.
            ctx.snapshots.remove(&decision.key.key);
            Ok(StepOutput::Recorded(revisions))
        }
        StepKind::Prune => {
            let target = step.target.expect("a prune names its target");
            let Some(StepOutput::Recorded(revisions)) =
                find(inputs, |o| matches!(o, StepOutput::Recorded(_)))
            else {
                unreachable!("prune needs record");
            };
            let made = &revisions
                .iter()
                .find(|(t, _)| *t == target)
                .expect("the record step lists every target of the cell")
                .1;
            let store = &ctx.stores[target];
            let keep = recipe.targets[target].keep as usize;
            let revisions = store.revisions(&cell.image_name, &ctx.owner)?;
            let doomed: Vec<_> = prunable(&revisions, keep, Some(&made.id))
                .into_iter()
                .cloned()
                .collect();
            let log_path = logs.join(format!("prune-{}.log", store.name()));
            for revision in &doomed {
                ctx.cancel.check()?;
                store.delete(revision)?;
                append(
                    &log_path,
                    &format!("deleted {} (created {})", revision.id, revision.created_at),
                );
            }
            Ok(StepOutput::Pruned(doomed))
        }
    }
}

/// The build part of a manifest, kept with a cached snapshot so that a run
/// that only uploads it can still say how it was built.
fn build_record(
    ctx: &RunContext,
    cell: &crate::model::Cell,
    accel: crate::host::accel::Accel,
) -> serde_json::Value {
    let timings = ctx
        .timings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mine: std::collections::BTreeMap<String, f64> = timings
        .into_iter()
        .filter(|(id, _)| {
            id.ends_with(&format!(":{}", cell.image_name))
                || id == &format!("fetch:{}", cell.base())
        })
        .collect();
    serde_json::json!({
        "run": ctx.run_id,
        "built_at": jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default(),
        "timings": mine,
        "host": {
            "qemu": ctx.qemu_version,
            "accelerator": accel.as_str(),
        },
    })
}

fn find(inputs: &[StepOutput], pred: impl Fn(&StepOutput) -> bool) -> Option<&StepOutput> {
    inputs.iter().find(|o| pred(o))
}

/// Append one timestamped line to a log file; logging never fails a step.
pub fn append(path: &camino::Utf8Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            f,
            "{} {line}",
            jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
        );
    }
}

//! The scheduler alone: a synthetic recipe of 1,000 / 10,000 / 100,000
//! cells (2 targets: 8 steps a cell) run by the real executor, on a
//! benchmark-only backend whose steps are instant and with instant jobs,
//! so that what is measured is the scheduling: dependency queue, resource
//! grants, per-cell slots, messages, the reporter (to a log file on tmpfs
//! and stderr). Target: under 1 s in all for 10,000 cells, and linear.
//!
//! Baseline, in the same invocation: the same number of instant jobs
//! spawned on the same pool and acknowledged over the same channel, with
//! no scheduling at all (the floor of the design).
//!
//! `cargo bench --bench executor 2>/dev/null`

// A benchmark prints its own numbers; nothing secret passes through it.
#![allow(clippy::disallowed_macros)]

use camino::{Utf8Path, Utf8PathBuf};
use pipeline::backends::{Backend, BaseJob, CellJob};
use pipeline::bases::FetchedBase;
use pipeline::executor::{self, Done, Job, Message, Reporter, RunContext};
use pipeline::freshness::{Action, Decision, InputKey, SnapshotCache};
use pipeline::guest::UserData;
use pipeline::model::{CellId, Recipe, Secrets};
use pipeline::plan::{BackendSteps, Plan, Resource};
use pipeline::state::Layout;
use pipeline::step::CancelToken;
use pipeline::step::StepResult;
use pipeline::targets::{Artifact, ImageMeta, Listing, Revision, Store};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod synthetic;

/// The QEMU backend's steps, with nothing behind them.
const STEPS: &BackendSteps = &pipeline::backends::qemu::STEPS;

struct Instant_;

impl Backend for Instant_ {
    type Base = ();
    type Built = ();
    type Exported = Artifact;
    fn steps(&self) -> &'static BackendSteps {
        STEPS
    }
    fn capacity(&self, resource: Resource) -> Option<usize> {
        (resource == Resource::Machine).then_some(2)
    }
    fn start(&self, _: usize, _: &std::collections::BTreeMap<String, String>) -> Vec<String> {
        Vec::new()
    }
    fn init(&self, _: &[(&str, &FetchedBase)]) -> Vec<pipeline::output::Check> {
        Vec::new()
    }
    fn prepare_base(&self, _: &BaseJob, _: &FetchedBase) -> StepResult<()> {
        Ok(())
    }
    fn provision(&self, _: &CellJob) -> StepResult<()> {
        Ok(())
    }
    fn build(&self, _: &CellJob, _: &()) -> StepResult<()> {
        Ok(())
    }
    fn export(&self, _: &CellJob, _: ()) -> StepResult<Artifact> {
        Ok(artifact())
    }
    fn verify(
        &self,
        _: &CellJob,
        _: &Artifact,
        _: &pipeline::backends::VerifyJob,
    ) -> StepResult<pipeline::backends::Verified> {
        unreachable!("the benchmark's recipe has no [verify]")
    }
    fn discard(&self, _: ()) -> StepResult<()> {
        Ok(())
    }
    fn release(&self, _: &Artifact, _: bool) -> StepResult<()> {
        Ok(())
    }
}

fn artifact() -> Artifact {
    Artifact::file(
        "/dev/null".into(),
        "0".repeat(64),
        0,
        serde_json::Value::Null,
    )
}

/// A target that stores nothing.
struct Nowhere(String);

impl Store for Nowhere {
    fn name(&self) -> &str {
        &self.0
    }
    fn upload(
        &self,
        _: &Artifact,
        meta: &ImageMeta,
        _: &CancelToken,
        _: &dyn Fn(u64),
    ) -> StepResult<Revision> {
        Ok(revision(meta.clone()))
    }
    fn list(&self, _: &str, _: &str) -> StepResult<Listing> {
        Ok(Listing::default())
    }
    fn delete(&self, _: &Revision) -> StepResult<()> {
        Ok(())
    }
    fn attach_manifest(&self, _: &Revision, _: &serde_json::Value) -> StepResult<()> {
        Ok(())
    }
    fn init(&self, _: &pipeline::targets::StoreNeed) -> Vec<pipeline::output::Check> {
        Vec::new()
    }
}

fn revision(meta: ImageMeta) -> Revision {
    Revision {
        id: format!("{}/1", meta.name),
        created_at: String::new(),
        number: Some(1),
        meta,
    }
}

fn meta(name: &str) -> ImageMeta {
    ImageMeta {
        name: name.to_owned(),
        owner: "pipeline:bench".into(),
        arch: "x64".into(),
        base: "b".into(),
        cell: Default::default(),
        sha256: "0".repeat(64),
        size: 0,
        recipe_hash: String::new(),
        input_key: None,
        inputs: Default::default(),
        os_distro: None,
        os_version: None,
    }
}

/// Every job done at once, with what the next steps need.
fn instant(
    ctx: &RunContext<Instant_>,
    _: petgraph::graph::NodeIndex,
    job: Job<Instant_>,
    _: &mpsc::Sender<Message<Instant_>>,
) -> StepResult<Done<Instant_>> {
    Ok(match job {
        Job::Fetch { .. } | Job::Prepare { .. } => Done::Prepared(()),
        Job::Render { .. } => Done::Rendered(UserData {
            text: String::new(),
            nonce: String::new(),
        }),
        Job::Provision { .. } => Done::Provisioned,
        Job::Build { .. } => Done::Built(()),
        Job::Export { .. } => Done::Exported(artifact()),
        Job::Verify { .. } => Done::Verified(serde_json::Value::Null),
        Job::Upload { cell, .. } => Done::Uploaded(
            Box::new(revision(meta(&ctx.recipe.cells[cell].image_name))),
            false,
        ),
        Job::Record { uploads, .. } => Done::Recorded(uploads),
        Job::Prune { .. } => Done::Pruned(Vec::new()),
    })
}

/// Seconds for the executor to run every cell of `recipe`.
fn run_executor(recipe: &Recipe, scratch: &Utf8Path) -> (Duration, usize) {
    let cells: Vec<CellId> = recipe.cell_ids().collect();
    let plan = Plan::new(recipe, STEPS, &cells);
    let stores: Vec<Box<dyn Store>> = recipe
        .targets
        .iter()
        .map(|t| Box::new(Nowhere(t.name.clone())) as Box<dyn Store>)
        .collect();
    let decisions = cells
        .iter()
        .map(|&c| {
            (
                c,
                Decision {
                    cell: c,
                    key: InputKey {
                        key: format!("{c:064}"),
                        inputs: Default::default(),
                    },
                    action: Action::Build {
                        targets: recipe.target_ids().collect(),
                    },
                    reason: String::new(),
                    present: Vec::new(),
                    warnings: Vec::new(),
                },
            )
        })
        .collect();
    let secrets = Secrets::default();
    let layout = Layout {
        cache: scratch.join("cache"),
        state: scratch.join("state"),
    };
    let ctx = RunContext {
        recipe,
        secrets: &secrets,
        layout: &layout,
        backend: &Instant_,
        run_dir: scratch.join("run"),
        work_dir: scratch.join("work"),
        stores: &stores,
        cancel: CancelToken::new(),
        recipe_hash: String::new(),
        owner: "pipeline:bench".into(),
        run_id: "bench".into(),
        decisions,
        base_digests: Default::default(),
        snapshots: SnapshotCache::new(scratch.join("snapshots")),
    };
    std::fs::create_dir_all(&ctx.run_dir).unwrap();
    let mut reporter = Reporter::new(false, &ctx.run_dir.join("run.log"));
    let options = executor::Options {
        fetches: 2,
        keep_going: false,
    };
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let report = executor::run_with(&ctx, &plan, &options, &mut reporter, rx, tx, &instant);
    let took = start.elapsed();
    assert_eq!(report.cells.len(), cells.len());
    assert!(
        report.cells.iter().all(
            |(_, o)| matches!(o, executor::CellOutcome::Built { images } if images.len() == 2)
        ),
        "every cell is built"
    );
    (took, plan.len())
}

/// The same number of instant jobs through the same kind of pool and
/// channel, without any scheduling.
fn run_baseline(steps: usize) -> Duration {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel::<(usize, Duration)>();
    let start = Instant::now();
    pool.in_place_scope(|scope| {
        for i in 0..steps {
            let tx = tx.clone();
            scope.spawn(move |_| {
                let t = Instant::now();
                let _ = tx.send((i, t.elapsed()));
            });
            // As the scheduler does: one message handled per step.
            let _ = rx.recv();
        }
    });
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("pipeline-executor-bench-")
        .tempdir_in(if Utf8Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .unwrap();
    let root = Utf8PathBuf::from_path_buf(scratch.path().to_owned()).unwrap();
    println!("scheduler overhead (instant steps; baseline: the same jobs without scheduling)");
    println!(
        "{:>8} {:>7} {:>10} {:>10} {:>10} {:>7}",
        "cells", "steps", "executor", "per cell", "baseline", "ratio"
    );
    let mut per_cell = Vec::new();
    for cells in [1_000, 10_000, 100_000] {
        let synthetic = synthetic::synthetic(cells);
        let recipe = pipeline::loader::load(&synthetic.recipe).unwrap();
        let dir = root.join(cells.to_string());
        let (took, steps) = run_executor(&recipe, &dir);
        let baseline = run_baseline(steps);
        let _ = std::fs::remove_dir_all(&dir);
        let us = took.as_secs_f64() * 1e6 / cells as f64;
        per_cell.push(us);
        println!(
            "{cells:>8} {steps:>7} {:>9.3}s {:>8.1}µs {:>9.3}s {:>7.2}",
            took.as_secs_f64(),
            us,
            baseline.as_secs_f64(),
            took.as_secs_f64() / baseline.as_secs_f64()
        );
        if cells == 10_000 {
            println!(
                "         target for 10,000 cells (< 1 s): {}",
                if took < Duration::from_secs(1) {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
    }
    println!(
        "linearity: per-cell time at 100k / at 1k = {:.2}",
        per_cell[2] / per_cell[0]
    );
}

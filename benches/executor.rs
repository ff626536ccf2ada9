//! The scheduler alone: a synthetic recipe of 1,000 / 10,000 / 100,000
//! cells (2 targets: 8 steps a cell) run by the real executor, on the
//! fake backend of the scheduler's tests (`executor::fake`: instant steps,
//! instant jobs), with the QEMU backend's steps, so that what is measured
//! is the scheduling: dependency queue, resource grants, per-cell slots,
//! messages, the reporter (to a log file on tmpfs and stderr). Target:
//! under 1 s in all for 10,000 cells, and linear.
//!
//! Baseline, in the same invocation: the same number of instant jobs
//! spawned on the same pool and acknowledged over the same channel, with
//! no scheduling at all (the floor of the design).
//!
//! `cargo bench --bench executor 2>/dev/null`

// A benchmark prints its own numbers; nothing secret passes through it.
#![allow(clippy::disallowed_macros)]

use camino::{Utf8Path, Utf8PathBuf};
use pipeline::executor::fake::{FakeWorld, decision, instant};
use pipeline::executor::{self, Reporter};
use pipeline::freshness::Action;
use pipeline::model::{CellId, Recipe};
use pipeline::plan::{BackendSteps, Plan};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod synthetic;

/// The QEMU backend's steps, with nothing behind them.
const STEPS: &BackendSteps = &pipeline::backends::qemu::STEPS;

/// Seconds for the executor to run every cell of `recipe`.
fn run_executor(recipe: &Recipe, scratch: &Utf8Path) -> (Duration, usize) {
    let cells: Vec<CellId> = recipe.cell_ids().collect();
    let plan = Plan::new(recipe, STEPS, &cells);
    let decisions = cells
        .iter()
        .map(|&c| {
            let targets = recipe.target_ids().collect();
            (c, decision(c, Action::Build { targets }))
        })
        .collect();
    let world = FakeWorld::new(recipe, STEPS, scratch);
    let ctx = world.context(recipe, decisions);
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

//! The scheduler: all state on one thread; steps run on a rayon pool and
//! report back with `Message::Finish`. A step starts when everything it
//! needs is done and a resource slot is free. After a failure no new cell
//! starts (cells already booting finish) unless `keep_going`; an interrupt
//! kills every VM and waits for the running steps to return.

use super::perform::perform;
use super::{CellOutcome, Message, Reporter, RunContext, StepOutput, TargetImage};
use crate::host::process;
use crate::plan::{Plan, Step, StepKind};
use crate::step_error::StepErrorKind;
use petgraph::graph::NodeIndex;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::mpsc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Options {
    /// VMs (boots and snapshots) at once.
    pub jobs: usize,
    /// Base downloads at once.
    pub fetches: usize,
    pub keep_going: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed(String),
    Skipped(String),
}

/// What a run produced: an outcome per planned cell, in plan order.
pub struct RunReport {
    pub cells: Vec<(usize, CellOutcome)>,
    pub interrupted: bool,
    /// Whether new cells stopped starting after a failure.
    pub stopped_early: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Vm,
    Fetch,
    Upload(usize),
}

fn slot(step: &Step) -> Option<Slot> {
    match step.kind {
        StepKind::Boot | StepKind::Snapshot => Some(Slot::Vm),
        StepKind::Fetch => Some(Slot::Fetch),
        StepKind::Upload => step.target.map(Slot::Upload),
        StepKind::Render | StepKind::Seed | StepKind::Record | StepKind::Prune => None,
    }
}

pub fn run(
    ctx: &RunContext,
    plan: &Plan,
    options: &Options,
    reporter: &mut Reporter,
    rx: mpsc::Receiver<Message>,
    tx: mpsc::Sender<Message>,
) -> RunReport {
    let n = plan.len();
    let position: HashMap<NodeIndex, usize> = plan
        .order()
        .iter()
        .enumerate()
        .map(|(i, &node)| (node, i))
        .collect();
    let mut status = vec![Status::Waiting; n];
    let mut remaining: Vec<usize> = (0..n)
        .map(|i| plan.needs(NodeIndex::new(i)).len())
        .collect();
    // Later kinds first (finish a started cell before starting another), then plan order.
    let mut ready: BTreeSet<(u8, usize)> = BTreeSet::new();
    let key = |node: NodeIndex| (u8::MAX - plan.step(node).kind as u8, position[&node]);
    for (i, r) in remaining.iter().enumerate() {
        if *r == 0 {
            ready.insert(key(NodeIndex::new(i)));
        }
    }
    let limit = |s: Slot| match s {
        Slot::Vm => options.jobs,
        Slot::Fetch => options.fetches,
        Slot::Upload(t) => ctx.recipe.targets[t].uploads,
    };
    let mut in_use: HashMap<Slot, usize> = HashMap::new();
    let mut outputs: HashMap<NodeIndex, StepOutput> = HashMap::new();
    let mut started_at: HashMap<NodeIndex, Instant> = HashMap::new();
    // Cells whose boot has started: they are finished even after a failure.
    let mut cell_started: BTreeSet<usize> = BTreeSet::new();
    let mut running = 0usize;
    let mut stopping = false;
    let mut stopped_early = false;
    let mut interrupted = false;
    let row = |step: &Step| -> String {
        match (&step.base, step.cell) {
            (Some(base), _) => format!("base {base}"),
            (_, Some(c)) => ctx.recipe.cells[c].image_name.clone(),
            _ => step.id.clone(),
        }
    };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(
            options.jobs
                + options.fetches
                + ctx.recipe.targets.iter().map(|t| t.uploads).sum::<usize>()
                + 2,
        )
        .thread_name(|i| format!("pipeline-worker-{i}"))
        .build()
        .expect("a thread pool");

    pool.in_place_scope(|scope| {
        loop {
            // Start whatever may start, best first.
            if !interrupted {
                let candidates: Vec<(u8, usize)> = ready.iter().copied().collect();
                for k in candidates {
                    let node = plan.order()[k.1];
                    let step = plan.step(node);
                    if stopping && !may_start_after_failure(plan, node, &cell_started) {
                        continue;
                    }
                    if let Some(s) = slot(step)
                        && in_use.get(&s).copied().unwrap_or(0) >= limit(s)
                    {
                        continue;
                    }
                    ready.remove(&k);
                    if let Some(s) = slot(step) {
                        *in_use.entry(s).or_default() += 1;
                    }
                    if step.kind == StepKind::Boot
                        && let Some(c) = step.cell
                    {
                        cell_started.insert(c);
                    }
                    status[node.index()] = Status::Running;
                    started_at.insert(node, Instant::now());
                    running += 1;
                    reporter.started(step, &row(step));
                    let inputs: Vec<StepOutput> = plan
                        .needs(node)
                        .into_iter()
                        .filter_map(|d| outputs.get(&d).cloned())
                        .collect();
                    let tx = tx.clone();
                    scope.spawn(move |_| {
                        let step = plan.step(node);
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            perform(ctx, node, step, &inputs, &tx)
                        }))
                        .unwrap_or_else(|_| {
                            Err(crate::step_error::StepError::permanent(
                                "the step panicked (a bug in pipeline)",
                            ))
                        });
                        let _ = tx.send(Message::Finish(node, Box::new(result)));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let Ok(message) = rx.recv() else { break };
            match message {
                Message::Progress(node, progress) => {
                    let step = plan.step(node);
                    reporter.progress(step, &row(step), &progress);
                }
                Message::Interrupt => {
                    if interrupted {
                        // A second Ctrl-C: do not wait any longer.
                        process::kill_all();
                        continue;
                    }
                    interrupted = true;
                    reporter.line("interrupted: stopping every VM and removing partial files");
                    ctx.cancel.cancel();
                    process::kill_all();
                }
                Message::Finish(node, result) => {
                    running -= 1;
                    let step = plan.step(node);
                    if let Some(s) = slot(step) {
                        *in_use.get_mut(&s).expect("a slot was taken") -= 1;
                    }
                    let elapsed = started_at[&node].elapsed();
                    match *result {
                        Ok(output) => {
                            reporter.finished(step, &row(step), elapsed, None);
                            outputs.insert(node, output);
                            status[node.index()] = Status::Done;
                            for next in plan.dependents(node) {
                                remaining[next.index()] -= 1;
                                if remaining[next.index()] == 0 && status[next.index()] == Status::Waiting {
                                    ready.insert(key(next));
                                }
                            }
                            // Free memory early: the last consumer of an output is gone.
                            release_outputs(plan, node, &status, &mut outputs);
                        }
                        Err(e) => {
                            let message = ctx.secrets.redact(&e.message);
                            if e.kind != StepErrorKind::Cancelled {
                                reporter.finished(step, &row(step), elapsed, Some(&message));
                            }
                            status[node.index()] = if e.kind == StepErrorKind::Cancelled {
                                Status::Skipped("interrupted".into())
                            } else {
                                Status::Failed(message)
                            };
                            // Everything downstream cannot run.
                            let mut queue: VecDeque<NodeIndex> = plan.dependents(node).into();
                            while let Some(d) = queue.pop_front() {
                                if status[d.index()] == Status::Waiting {
                                    status[d.index()] = Status::Skipped(format!("needs {}, which failed", step.id));
                                    ready.remove(&key(d));
                                    queue.extend(plan.dependents(d));
                                }
                            }
                            if !options.keep_going && !stopping && e.kind != StepErrorKind::Cancelled {
                                stopping = true;
                                let waiting = ready.len();
                                if running > 0 || waiting > 0 {
                                    reporter.line(&format!(
                                        "{} failed: no new cell will start; waiting for {running} running step{} to finish (use --keep-going to build the other cells)",
                                        step.id,
                                        if running == 1 { "" } else { "s" }
                                    ));
                                }
                            }
                        }
                    }
                    report_finished_cells(ctx, plan, node, &status, reporter);
                }
            }
        }
    });

    // Anything that never ran.
    for (i, s) in status.iter_mut().enumerate() {
        if *s == Status::Waiting {
            *s = Status::Skipped(if interrupted {
                "interrupted".into()
            } else {
                stopped_early = true;
                "not started: the run stopped after a failure (use --keep-going to build it anyway)"
                    .into()
            });
            let _ = i;
        }
    }

    let cells = plan
        .cells()
        .iter()
        .map(|&c| (c, outcome(ctx, plan, c, &status, &outputs)))
        .collect();
    RunReport {
        cells,
        interrupted,
        stopped_early,
    }
}

/// After a failure only cells already booting go on; a fetch still runs if a
/// started cell needs it.
fn may_start_after_failure(plan: &Plan, node: NodeIndex, started: &BTreeSet<usize>) -> bool {
    let step = plan.step(node);
    match step.cell {
        Some(c) => started.contains(&c),
        None => plan
            .dependents(node)
            .iter()
            .any(|d| plan.step(*d).cell.is_some_and(|c| started.contains(&c))),
    }
}

/// Drop outputs nobody will read again (overlay paths are small, but a
/// user-data copy per cell adds up in a large matrix).
fn release_outputs(
    plan: &Plan,
    node: NodeIndex,
    status: &[Status],
    outputs: &mut HashMap<NodeIndex, StepOutput>,
) {
    for need in plan.needs(node) {
        let consumers_done = plan
            .dependents(need)
            .iter()
            .all(|d| !matches!(status[d.index()], Status::Waiting | Status::Running));
        // Keep uploads (the outcome needs them) and snapshots (several targets).
        let keep = matches!(
            outputs.get(&need),
            Some(StepOutput::Uploaded(..))
                | Some(StepOutput::Recorded(_))
                | Some(StepOutput::Fetched(_))
        );
        if consumers_done && !keep {
            outputs.remove(&need);
        }
    }
}

fn report_finished_cells(
    ctx: &RunContext,
    plan: &Plan,
    node: NodeIndex,
    status: &[Status],
    reporter: &mut Reporter,
) {
    let Some(c) = plan.step(node).cell else {
        return;
    };
    let steps: Vec<NodeIndex> = plan
        .order()
        .iter()
        .copied()
        .filter(|&n| plan.step(n).cell == Some(c))
        .collect();
    if steps
        .iter()
        .any(|n| matches!(status[n.index()], Status::Waiting | Status::Running))
    {
        return;
    }
    let summary = match steps.iter().find_map(|n| match &status[n.index()] {
        Status::Failed(e) => Some((plan.step(*n).id.clone(), e.clone())),
        _ => None,
    }) {
        Some((id, e)) => format!("failed at {id}: {}", e.lines().next().unwrap_or_default()),
        None if steps.iter().all(|n| status[n.index()] == Status::Done) => "built".to_owned(),
        None => "skipped".to_owned(),
    };
    reporter.cell_done(&ctx.recipe.cells[c].image_name, &summary);
}

fn outcome(
    ctx: &RunContext,
    plan: &Plan,
    cell: usize,
    status: &[Status],
    outputs: &HashMap<NodeIndex, StepOutput>,
) -> CellOutcome {
    let steps: Vec<NodeIndex> = plan
        .order()
        .iter()
        .copied()
        .filter(|&n| plan.step(n).cell == Some(cell) || needed_fetch(plan, n, cell))
        .collect();
    for &n in &steps {
        if let Status::Failed(e) = &status[n.index()]
            && plan.step(n).cell == Some(cell)
        {
            return CellOutcome::Failed {
                step: plan.step(n).id.clone(),
                error: e.clone(),
            };
        }
    }
    for &n in &steps {
        if let Status::Skipped(reason) = &status[n.index()] {
            return CellOutcome::Skipped {
                reason: reason.clone(),
            };
        }
        if let Status::Failed(e) = &status[n.index()] {
            return CellOutcome::Skipped {
                reason: format!("{} failed: {e}", plan.step(n).id),
            };
        }
    }
    let images = steps
        .iter()
        .filter_map(|n| match (plan.step(*n).target, outputs.get(n)) {
            (Some(t), Some(StepOutput::Uploaded(_, rev))) => Some(TargetImage {
                target: ctx.recipe.targets[t].name.clone(),
                id: rev.id.clone(),
                revision: Some((**rev).clone()),
            }),
            _ => None,
        })
        .collect();
    CellOutcome::Built { images }
}

fn needed_fetch(plan: &Plan, node: NodeIndex, cell: usize) -> bool {
    plan.step(node).kind == StepKind::Fetch
        && plan
            .dependents(node)
            .iter()
            .any(|d| plan.step(*d).cell == Some(cell))
}

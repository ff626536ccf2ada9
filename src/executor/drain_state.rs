//! The scheduler: all its state in [`DrainState`], on one thread. Workers
//! perform [`Job`]s on a rayon pool and only send [`Message::Finish`]. A
//! step starts when everything it needs is done and the resource it holds
//! is granted. After a failure no new cell starts (cells whose machine was
//! granted go on) unless `keep_going`; an interrupt kills every VM and
//! waits for the running steps to return.

use super::cell_slot::{CellEnd, CellSlot, Made};
use super::dependency_queue::{DependencyQueue, Lane};
use super::job::{Done, Job};
use super::{CellOutcome, Message, Reporter, RunContext, TargetImage};
use crate::backends::Backend;
use crate::bases::FetchedBase;
use crate::freshness::Action;
use crate::host::process;
use crate::model::{BaseId, CellId};
use crate::output::Scrubber;
use crate::plan::{Plan, PlannedStep, Resource, Step};
use crate::step::{StepError, StepErrorKind, StepResult};
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    /// Base downloads at once.
    pub fetches: usize,
    pub keep_going: bool,
}

/// What a run produced: an outcome per planned cell, in plan order.
pub struct RunReport {
    pub cells: Vec<(CellId, CellOutcome)>,
    pub interrupted: bool,
    /// Whether new cells stopped starting after a failure.
    pub stopped_early: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Skipped,
}

struct BaseSlot<B: Backend> {
    fetched: Option<FetchedBase>,
    ready: Option<B::Base>,
}

/// What performs a job on a worker: [`perform`] in a run; an instant stand-in
/// in the scheduler's benchmark.
pub type Perform<'p, B> = dyn Fn(&RunContext<B>, NodeIndex, Job<B>, &mpsc::Sender<Message<B>>) -> StepResult<Done<B>>
    + Sync
    + 'p;

pub struct DrainState<'a, B: Backend> {
    ctx: &'a RunContext<'a, B>,
    plan: &'a Plan,
    options: &'a Options,
    perform: &'a Perform<'a, B>,
    queue: DependencyQueue,
    status: Vec<Status>,
    in_use: HashMap<Resource, usize>,
    bases: HashMap<BaseId, BaseSlot<B>>,
    cells: HashMap<CellId, CellSlot<B>>,
    running: usize,
    stopping: bool,
    interrupted: bool,
}

/// Run `plan` to its end; `tx` is the sender of `rx` (workers get clones).
/// Jobs are performed by `perform`: [`super::perform`] in a run, an instant
/// stand-in in the scheduler's tests and benchmark.
pub fn run_with<B: Backend>(
    ctx: &RunContext<B>,
    plan: &Plan,
    options: &Options,
    reporter: &mut Reporter,
    rx: mpsc::Receiver<Message<B>>,
    tx: mpsc::Sender<Message<B>>,
    perform: &Perform<'_, B>,
) -> RunReport {
    let mut state = DrainState::new(ctx, plan, options, perform);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(state.threads())
        .thread_name(|i| format!("pipeline-worker-{i}"))
        .build()
        .expect("a thread pool");
    pool.in_place_scope(|scope| {
        loop {
            state.spawn_ready(scope, &tx, reporter);
            if state.running == 0 {
                break;
            }
            let Ok(message) = rx.recv() else { break };
            state.handle_message(message, reporter);
        }
    });
    state.finish(reporter)
}

impl<'a, B: Backend> DrainState<'a, B> {
    fn new(
        ctx: &'a RunContext<'a, B>,
        plan: &'a Plan,
        options: &'a Options,
        perform: &'a Perform<'a, B>,
    ) -> Self {
        let (queue, ready) = DependencyQueue::new(plan);
        let mut steps_per_cell: HashMap<CellId, usize> = HashMap::new();
        for node in plan.order() {
            if let Some(c) = plan.step(*node).step.cell() {
                *steps_per_cell.entry(c).or_default() += 1;
            }
        }
        let mut state = Self {
            ctx,
            plan,
            options,
            perform,
            queue,
            status: vec![Status::Waiting; plan.len()],
            in_use: HashMap::new(),
            bases: HashMap::new(),
            cells: steps_per_cell
                .into_iter()
                .map(|(c, n)| (c, CellSlot::new(n)))
                .collect(),
            running: 0,
            stopping: false,
            interrupted: false,
        };
        for node in ready {
            let lane = state.lane(node);
            state.queue.push(plan, node, lane);
            state.status[node.index()] = Status::Ready;
        }
        state
    }

    /// Worker threads: one per step that may hold a resource at once,
    /// plus a few for the steps that hold none.
    fn threads(&self) -> usize {
        let limited: usize = [Resource::Machine, Resource::Fetch, Resource::Stage]
            .into_iter()
            .chain(self.ctx.recipe.target_ids().map(Resource::Upload))
            .map(|r| self.capacity(r).min(64))
            .sum();
        (limited + 2).min(128)
    }

    fn capacity(&self, resource: Resource) -> usize {
        let backend = self.ctx.backend;
        match resource {
            Resource::Machine => backend.capacity(resource).unwrap_or(usize::MAX),
            Resource::Stage => backend.capacity(resource).unwrap_or(1),
            Resource::Fetch => self.options.fetches,
            Resource::Upload(t) => self.ctx.recipe.targets[t].uploads,
        }
        .max(1)
    }

    /// The queue a ready step waits in: none when it holds nothing, or when
    /// its cell already holds what it needs (granted to the step before).
    fn lane(&self, node: NodeIndex) -> Lane {
        let step = self.plan.step(node);
        let held = step
            .step
            .cell()
            .and_then(|c| self.cells.get(&c))
            .and_then(|c| c.lease);
        match step.holds {
            Some(r) if held == Some(r) => None,
            other => other,
        }
    }

    fn spawn_ready<'s>(
        &mut self,
        scope: &rayon::Scope<'s>,
        tx: &mpsc::Sender<Message<B>>,
        reporter: &mut Reporter,
    ) where
        'a: 's,
    {
        if self.interrupted {
            return;
        }
        for lane in self.queue.lanes() {
            loop {
                if let Some(r) = lane
                    && self.in_use.get(&r).copied().unwrap_or(0) >= self.capacity(r)
                {
                    break;
                }
                let Some(node) = self.queue.pop(self.plan, lane) else {
                    break;
                };
                if self.stopping && !self.may_start_after_failure(node) {
                    // Left waiting: the end of the run says it never started.
                    self.status[node.index()] = Status::Waiting;
                    continue;
                }
                match self.job_for(node) {
                    Ok(job) => self.start(scope, tx, reporter, node, lane, job),
                    Err(e) => {
                        let step = self.plan.step(node);
                        reporter.finished(step, &self.row(step), Duration::ZERO, Some(&e.message));
                        self.failed(node, e, reporter);
                    }
                }
            }
        }
    }

    fn start<'s>(
        &mut self,
        scope: &rayon::Scope<'s>,
        tx: &mpsc::Sender<Message<B>>,
        reporter: &mut Reporter,
        node: NodeIndex,
        lane: Lane,
        job: Job<B>,
    ) where
        'a: 's,
    {
        let step = self.plan.step(node);
        if let Some(r) = lane {
            *self.in_use.entry(r).or_default() += 1;
        }
        if let Some(c) = step.step.cell()
            && let Some(slot) = self.cells.get_mut(&c)
        {
            if let Some(r) = step.holds {
                slot.lease = Some(r);
            }
            if matches!(step.step, Step::Provision { .. } | Step::Build { .. }) {
                slot.started = true;
            }
        }
        self.status[node.index()] = Status::Running;
        self.running += 1;
        reporter.started(step, &self.row(step));
        let (ctx, tx, perform) = (self.ctx, tx.clone(), self.perform);
        scope.spawn(move |_| {
            let started = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                perform(ctx, node, job, &tx)
            }))
            .unwrap_or_else(|_| {
                Err(StepError::permanent(
                    "the step panicked (a bug in pipeline)",
                ))
            });
            let _ = tx.send(Message::Finish {
                node,
                result,
                elapsed: started.elapsed(),
            });
        });
    }

    /// After a failure only cells whose machine was granted go on, and the
    /// base steps such a cell still needs.
    fn may_start_after_failure(&self, node: NodeIndex) -> bool {
        let started = |c: CellId| self.cells.get(&c).is_some_and(|s| s.started);
        match self.plan.step(node).step.cell() {
            Some(c) => started(c),
            None => self
                .plan
                .dependents(node)
                .iter()
                .any(|d| self.plan.step(*d).step.cell().is_some_and(started)),
        }
    }

    /// The job of a ready step, with what the steps before it produced. The
    /// plan's edges make a step ready only after the steps that make its
    /// inputs: an input missing here is a bug in pipeline, said as one.
    fn job_for(&mut self, node: NodeIndex) -> Result<Job<B>, StepError> {
        let planned = self.plan.step(node);
        let missing = |what: &str| {
            StepError::permanent(format!(
                "{} started without {what} (a bug in pipeline)",
                planned.id
            ))
        };
        let recipe = self.ctx.recipe;
        match planned.step {
            Step::Fetch { base } => return Ok(Job::Fetch { base }),
            Step::Prepare { base } => {
                let fetched = self.bases.get(&base).and_then(|b| b.fetched.clone());
                return Ok(Job::Prepare {
                    base,
                    fetched: fetched.ok_or_else(|| missing("its fetched base"))?,
                });
            }
            _ => {}
        }
        let ready_base = |cell: CellId| {
            self.bases
                .get(&recipe.base_of(cell))
                .and_then(|b| b.ready.clone())
        };
        let base = match planned.step {
            Step::Build { cell } => Some(ready_base(cell).ok_or_else(|| missing("its base"))?),
            _ => None,
        };
        let cell = planned.step.cell().ok_or_else(|| missing("its cell"))?;
        let builds = matches!(self.ctx.decision(cell).action, Action::Build { .. });
        let slot = self
            .cells
            .get_mut(&cell)
            .ok_or_else(|| missing("its cell"))?;
        let user_data = slot
            .user_data()
            .cloned()
            .ok_or_else(|| missing("its user-data"));
        Ok(match planned.step {
            Step::Fetch { .. } | Step::Prepare { .. } => unreachable!("returned above"),
            Step::Render { cell } => Job::Render { cell },
            Step::Provision { cell } => Job::Provision {
                cell,
                user_data: user_data?,
            },
            Step::Build { cell } => Job::Build {
                cell,
                user_data: user_data?,
                base: base.ok_or_else(|| missing("its base"))?,
            },
            Step::Export { cell } => Job::Export {
                cell,
                user_data: user_data?,
                built: slot
                    .take_built()
                    .ok_or_else(|| missing("a built machine"))?,
                timings: slot.timings.clone(),
            },
            Step::Verify { cell } => Job::Verify {
                cell,
                user_data: user_data?,
                artifact: slot
                    .artifact()
                    .cloned()
                    .ok_or_else(|| missing("its artifact"))?,
                timings: slot.timings.clone(),
            },
            Step::Upload { cell, target } => {
                let artifact = slot.artifact().cloned();
                if builds && artifact.is_none() {
                    return Err(missing("its artifact"));
                }
                Job::Upload {
                    cell,
                    target,
                    artifact,
                }
            }
            Step::Record { cell } => Job::Record {
                cell,
                uploads: slot.uploads.clone(),
                artifact: slot.artifact().cloned(),
                adopted: slot.adopted,
                verified: slot.verified().cloned(),
                timings: slot.timings.clone(),
            },
            Step::Prune { cell, target } => Job::Prune {
                cell,
                target,
                made: slot
                    .recorded
                    .iter()
                    .find(|(t, _)| *t == target)
                    .map(|(_, r)| Box::new(r.clone()))
                    .ok_or_else(|| missing("the revision it keeps"))?,
            },
        })
    }

    fn handle_message(&mut self, message: Message<B>, reporter: &mut Reporter) {
        match message {
            Message::Progress(node, progress) => {
                let step = self.plan.step(node);
                reporter.progress(step, &self.row(step), &progress);
            }
            Message::Interrupt => {
                if self.interrupted {
                    // A second Ctrl-C: do not wait any longer.
                    process::kill_all();
                    return;
                }
                self.interrupted = true;
                reporter.line("interrupted: stopping every VM and removing partial files");
                self.ctx.cancel.cancel();
                process::kill_all();
            }
            Message::Finish {
                node,
                result,
                elapsed,
            } => {
                self.running -= 1;
                self.release(node, result.is_ok());
                let step = self.plan.step(node);
                if let Some(slot) = step.step.cell().and_then(|c| self.cells.get_mut(&c)) {
                    let secs = (elapsed.as_secs_f64() * 10.0).round() / 10.0;
                    slot.timings.insert(step.id.clone(), secs);
                }
                // After an interrupt a step ends because it was stopped
                // (its VM killed, its process gone): that is the interrupt,
                // not a failure of its own.
                let result = result.map_err(|e| {
                    if self.interrupted {
                        StepError::cancelled()
                    } else {
                        e
                    }
                });
                match result {
                    Ok(done) => self.done(node, done, elapsed, reporter),
                    Err(e) => {
                        if e.kind != StepErrorKind::Cancelled {
                            let shown = Scrubber::global().scrub(&e.message);
                            reporter.finished(step, &self.row(step), elapsed, Some(&shown));
                        }
                        self.failed(node, e, reporter);
                    }
                }
            }
        }
    }

    /// Give back the resource `node` held, unless its cell's next step
    /// holds the same (it keeps the grant).
    fn release(&mut self, node: NodeIndex, succeeded: bool) {
        let step = self.plan.step(node);
        let Some(r) = step.holds else { return };
        if let Some(c) = step.step.cell() {
            let passes_on = succeeded
                && self.plan.dependents(node).iter().any(|d| {
                    let next = self.plan.step(*d);
                    next.step.cell() == Some(c) && next.holds == Some(r)
                });
            if passes_on {
                return;
            }
            if let Some(slot) = self.cells.get_mut(&c) {
                slot.lease = None;
            }
        }
        if let Some(n) = self.in_use.get_mut(&r) {
            *n = n.saturating_sub(1);
        }
    }

    fn done(&mut self, node: NodeIndex, done: Done<B>, elapsed: Duration, reporter: &mut Reporter) {
        let step = self.plan.step(node);
        reporter.finished(step, &self.row(step), elapsed, None);
        self.status[node.index()] = Status::Done;
        if let Some(base) = step.step.base() {
            let slot = self.bases.entry(base).or_insert(BaseSlot {
                fetched: None,
                ready: None,
            });
            match done {
                Done::Fetched(f) => slot.fetched = Some(f),
                Done::Prepared(b) => slot.ready = Some(b),
                _ => {}
            }
        } else if let Some(slot) = step.step.cell().and_then(|c| self.cells.get_mut(&c)) {
            match done {
                Done::Rendered(u) => slot.made = Made::Rendered(Arc::new(u)),
                Done::Built(b) => {
                    if let Some(u) = slot.user_data().cloned() {
                        slot.made = Made::Built(u, b);
                    }
                }
                Done::Exported(a) => {
                    if let Some(u) = slot.user_data().cloned() {
                        slot.made = Made::Exported {
                            user_data: u,
                            artifact: Arc::new(a),
                            verified: None,
                            released: false,
                        };
                    }
                }
                Done::Verified(v) => {
                    if let Made::Exported { verified, .. } = &mut slot.made {
                        *verified = Some(v);
                    }
                }
                Done::Uploaded(rev, adopted) => {
                    if let Some(t) = step.step.target() {
                        slot.uploads.push((t, *rev));
                    }
                    slot.adopted |= adopted;
                }
                Done::Recorded(revisions) => {
                    slot.recorded = revisions;
                    // The record step released the artifact.
                    if let Made::Exported { released, .. } = &mut slot.made {
                        *released = true;
                    }
                }
                Done::Provisioned | Done::Pruned(_) | Done::Fetched(_) | Done::Prepared(_) => {}
            }
        }
        self.step_over(node, reporter);
        for next in self.queue.done(self.plan, node) {
            if self.status[next.index()] == Status::Waiting {
                let lane = self.lane(next);
                self.queue.push(self.plan, next, lane);
                self.status[next.index()] = Status::Ready;
            }
        }
    }

    fn failed(&mut self, node: NodeIndex, e: StepError, reporter: &mut Reporter) {
        let step = self.plan.step(node);
        let cancelled = e.kind == StepErrorKind::Cancelled;
        let message = Scrubber::global().scrub(&e.message).into_owned();
        self.status[node.index()] = if cancelled {
            Status::Skipped
        } else {
            Status::Failed
        };
        let cell = step.step.cell();
        let downstream = if cancelled {
            "interrupted".to_owned()
        } else if cell.is_some() {
            format!("needs {}, which failed", step.id)
        } else {
            format!("{} failed: {message}", step.id)
        };
        if let Some(slot) = cell.and_then(|c| self.cells.get_mut(&c)) {
            if cancelled {
                slot.skip("interrupted");
            } else {
                slot.fail(&step.id, &message);
            }
        }
        self.step_over(node, reporter);
        // Everything downstream cannot run.
        let mut queue: Vec<NodeIndex> = self.plan.dependents(node);
        while let Some(d) = queue.pop() {
            if self.status[d.index()] != Status::Waiting {
                continue;
            }
            self.skip(d, &downstream);
            self.step_over(d, reporter);
            queue.extend(self.plan.dependents(d));
        }
        if !self.options.keep_going && !self.stopping && !cancelled {
            self.stopping = true;
            let waiting = self.queue.len();
            if self.running > 0 || waiting > 0 {
                reporter.line(&format!(
                    "{} failed: no new cell will start; waiting for {} running step{} to finish (use --keep-going to build the other cells)",
                    step.id,
                    self.running,
                    if self.running == 1 { "" } else { "s" }
                ));
            }
        }
    }

    /// `node` will not run; its cell says why, unless a step of its own
    /// failed (or an earlier reason was given).
    fn skip(&mut self, node: NodeIndex, reason: &str) {
        self.status[node.index()] = Status::Skipped;
        if let Some(slot) = self
            .plan
            .step(node)
            .step
            .cell()
            .and_then(|c| self.cells.get_mut(&c))
        {
            slot.skip(reason);
        }
    }

    /// One step of a cell is over (done, failed or skipped): at the last,
    /// the cell is, and the reporter says how it ended.
    fn step_over(&mut self, node: NodeIndex, reporter: &mut Reporter) {
        let Some(c) = self.plan.step(node).step.cell() else {
            return;
        };
        let Some(slot) = self.cells.get_mut(&c) else {
            return;
        };
        slot.remaining = slot.remaining.saturating_sub(1);
        if slot.remaining > 0 {
            return;
        }
        let summary = match &slot.end {
            Some(CellEnd::Failed { step, error }) => {
                format!(
                    "failed at {step}: {}",
                    error.lines().next().unwrap_or_default()
                )
            }
            Some(CellEnd::Skipped { .. }) => "skipped".to_owned(),
            None => "built".to_owned(),
        };
        reporter.cell_done(&self.ctx.recipe.cells[c].image_name, &summary);
    }

    /// The run is over: what never ran is skipped, what a backend still
    /// holds is given back, and every cell has its outcome.
    fn finish(mut self, reporter: &mut Reporter) -> RunReport {
        let mut stopped_early = false;
        let reason = if self.interrupted {
            "interrupted"
        } else {
            "not started: the run stopped after a failure (use --keep-going to build it anyway)"
        };
        for i in 0..self.status.len() {
            if matches!(self.status[i], Status::Waiting | Status::Ready) {
                stopped_early |= !self.interrupted;
                self.skip(NodeIndex::new(i), reason);
            }
        }
        self.give_back(reporter);
        let cells = self
            .plan
            .cells()
            .iter()
            .map(|&c| (c, self.outcome(c)))
            .collect();
        RunReport {
            cells,
            interrupted: self.interrupted,
            stopped_early,
        }
    }

    /// Machines built but never exported, artifacts never recorded: the
    /// backend gives them back, and says when it cannot.
    fn give_back(&mut self, reporter: &mut Reporter) {
        let backend = self.ctx.backend;
        for (c, slot) in self.cells.iter_mut() {
            let name = &self.ctx.recipe.cells[*c].image_name;
            let given_back = match std::mem::replace(&mut slot.made, Made::Nothing) {
                Made::Built(_, built) => backend.discard(built),
                Made::Exported {
                    artifact,
                    released: false,
                    ..
                } => backend.release(&artifact, slot.adopted),
                _ => Ok(()),
            };
            if let Err(e) = given_back {
                reporter.line(&format!("warning: {name}: {}", e.message));
            }
        }
    }

    fn outcome(&self, cell: CellId) -> CellOutcome {
        let Some(slot) = self.cells.get(&cell) else {
            return CellOutcome::Built { images: Vec::new() };
        };
        match &slot.end {
            Some(CellEnd::Failed { step, error }) => {
                return CellOutcome::Failed {
                    step: step.clone(),
                    error: error.clone(),
                };
            }
            Some(CellEnd::Skipped { reason }) => {
                return CellOutcome::Skipped {
                    reason: reason.clone(),
                };
            }
            None => {}
        }
        let mut uploads = slot.uploads.clone();
        uploads.sort_by_key(|(t, _)| *t);
        CellOutcome::Built {
            images: uploads
                .into_iter()
                .map(|(t, rev)| TargetImage {
                    target: self.ctx.recipe.targets[t].name.clone(),
                    id: rev.id.clone(),
                    revision: Some(rev),
                })
                .collect(),
        }
    }

    /// The reporter's row of a step: its cell, or its base.
    fn row(&self, step: &PlannedStep) -> String {
        let recipe = self.ctx.recipe;
        match (step.step.base(), step.step.cell()) {
            (Some(b), _) => format!("base {}", recipe.base_name(b)),
            (_, Some(c)) => recipe.cells[c].image_name.clone(),
            _ => step.id.clone(),
        }
    }
}

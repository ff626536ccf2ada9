use super::Rules;
use crate::executor::fake::{FakeBackend, instant};
use crate::executor::{Done, Job, Message, RunContext};
use crate::plan::{Plan, PlannedStep, Resource};
use crate::step::{StepError, StepResult};
use petgraph::graph::NodeIndex;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the scripted steps did, in the order they did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start(String),
    Finish(String),
    /// A step sent [`Message::Interrupt`].
    Interrupt,
}

/// The instant perform function, told by its [`Rules`] to fail, wait or
/// interrupt at given steps; it logs every start and finish.
#[derive(Default)]
pub struct Script {
    rules: Rules,
    log: Mutex<Vec<Event>>,
    /// Upload steps that were handed no artifact (a cached snapshot's).
    cached_uploads: Mutex<Vec<String>>,
    failed_first: AtomicBool,
    interrupted: AtomicBool,
}

/// How long a scripted step waits for the others before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

impl Script {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    pub fn cached_uploads(&self) -> Vec<String> {
        self.cached_uploads.lock().unwrap().clone()
    }

    pub fn log(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    /// Ids of the steps that started, in order.
    pub fn started(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Event::Start(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    fn push(&self, event: Event) {
        self.log.lock().unwrap().push(event);
    }

    fn starts_of(&self, name: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| matches!(e, Event::Start(id) if id.split(':').next() == Some(name)))
            .count()
    }

    /// Wait until `ready`, or fail the step after [`PATIENCE`].
    fn wait(&self, what: &str, ready: impl Fn() -> bool) -> StepResult<()> {
        let until = Instant::now() + PATIENCE;
        while !ready() {
            if Instant::now() > until {
                return Err(StepError::permanent(format!("waited too long for {what}")));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The perform function for a run of `plan`.
    pub fn perform(
        &self,
        ctx: &RunContext<FakeBackend>,
        plan: &Plan,
        node: NodeIndex,
        job: Job<FakeBackend>,
        tx: &mpsc::Sender<Message<FakeBackend>>,
    ) -> StepResult<Done<FakeBackend>> {
        let step = plan.step(node);
        self.push(Event::Start(step.id.clone()));
        let result = self.scripted(ctx, step, node, job, tx);
        self.push(Event::Finish(step.id.clone()));
        result
    }

    fn scripted(
        &self,
        ctx: &RunContext<FakeBackend>,
        step: &PlannedStep,
        node: NodeIndex,
        job: Job<FakeBackend>,
        tx: &mpsc::Sender<Message<FakeBackend>>,
    ) -> StepResult<Done<FakeBackend>> {
        let (name, id) = (step.name, step.id.as_str());
        if let Job::Upload { artifact: None, .. } = &job {
            self.cached_uploads.lock().unwrap().push(id.to_owned());
        }
        if let Some((kind, n)) = self.rules.gate
            && kind == name
        {
            self.wait(&format!("{n} {kind} steps"), || self.starts_of(kind) >= n)?;
        }
        if self.rules.interrupt_at == Some(name) && !self.interrupted.swap(true, Ordering::SeqCst) {
            self.push(Event::Interrupt);
            let _ = tx.send(Message::Interrupt);
        }
        if self.rules.block == Some(name) {
            self.wait("the interrupt", || ctx.cancel.is_cancelled())?;
            if !self.rules.block_ends_well {
                return Err(StepError::cancelled());
            }
        }
        let first =
            self.rules.fail_first == Some(name) && !self.failed_first.swap(true, Ordering::SeqCst);
        if first || self.rules.fail.is_some_and(|fails| fails(step)) {
            // A backend step cleans up what it started on every path.
            if let Job::Export { built, .. } = job {
                use crate::backends::Backend;
                ctx.backend.discard(built)?;
            }
            return Err(StepError::permanent(format!("{id} failed as scripted")));
        }
        if step.holds == Some(Resource::Machine) {
            std::thread::sleep(self.rules.machine_time);
        }
        instant(ctx, node, job, tx)
    }
}

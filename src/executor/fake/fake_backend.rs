use super::artifact;
use crate::backends::{Backend, BaseJob, CellJob, Verified, VerifyJob};
use crate::bases::FetchedBase;
use crate::output::Check;
use crate::plan::{BackendSteps, Resource, StepShape};
use crate::step::StepResult;
use crate::targets::Artifact;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Steps whose machine is held from provision to the end of export, so a
/// test sees a lease kept across three steps.
pub const STEPS: BackendSteps = BackendSteps {
    backend: "fake",
    prepare: None,
    provision: Some(machine("seed")),
    build: machine("boot"),
    export: machine("snapshot"),
    verify: machine("verify"),
};

const fn machine(name: &'static str) -> StepShape {
    StepShape {
        name,
        holds: Some(Resource::Machine),
    }
}

/// A backend with nothing behind its steps: two machines at once, and a
/// count of what was given back to it.
pub struct FakeBackend {
    steps: &'static BackendSteps,
    discards: AtomicUsize,
    releases: AtomicUsize,
}

impl FakeBackend {
    /// Machines at once.
    pub const MACHINES: usize = 2;

    pub fn new(steps: &'static BackendSteps) -> Self {
        Self {
            steps,
            discards: AtomicUsize::new(0),
            releases: AtomicUsize::new(0),
        }
    }

    /// Built machines given back unexported.
    pub fn discards(&self) -> usize {
        self.discards.load(Ordering::SeqCst)
    }

    /// Exports the run was done with.
    pub fn releases(&self) -> usize {
        self.releases.load(Ordering::SeqCst)
    }
}

impl Backend for FakeBackend {
    type Base = ();
    type Built = ();
    type Exported = Artifact;

    fn steps(&self) -> &'static BackendSteps {
        self.steps
    }

    fn capacity(&self, resource: Resource) -> Option<usize> {
        (resource == Resource::Machine).then_some(Self::MACHINES)
    }

    fn start(&self, _: usize, _: &BTreeMap<String, String>) -> Vec<String> {
        Vec::new()
    }

    fn init(&self, _: &[(&str, &FetchedBase)]) -> Vec<Check> {
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

    fn verify(&self, _: &CellJob, _: &Artifact, _: &VerifyJob) -> StepResult<Verified> {
        unreachable!("the fake backend's recipes have no [verify]")
    }

    fn discard(&self, _: ()) -> StepResult<()> {
        self.discards.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn release(&self, _: &Artifact, _: bool) -> StepResult<()> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

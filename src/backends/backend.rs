use super::{BaseJob, CellJob, Verified, VerifyJob};
use crate::bases::FetchedBase;
use crate::output::Check;
use crate::plan::{BackendSteps, Resource};
use crate::step::StepResult;
use crate::targets::Artifact;
use camino::Utf8PathBuf;
use std::collections::BTreeMap;

/// Where a cell is built: this host's QEMU, or a cloud's compute service.
/// One implementation per folder under `backends/`; nothing above this
/// trait knows which one runs.
///
/// A cell's life on a backend: its base is prepared once per run
/// ([`Backend::prepare_base`]), its machine gets its inputs
/// ([`Backend::provision`], for backends that list that step), is booted
/// until the guest reports and then stopped ([`Backend::build`]), what it
/// built becomes an [`Artifact`] ([`Backend::export`]), and with `[verify]`
/// that artifact boots once more ([`Backend::verify`]). Every method
/// cleans up what it started on every path (failure, timeout, cancel); a
/// built machine that is never exported is given back to
/// [`Backend::discard`], an export the run is done with to
/// [`Backend::release`]. Booting a guest goes through the one lifecycle in
/// [`super::guest_boot`], over the backend's [`super::Machine`].
pub trait Backend: Send + Sync {
    /// A base ready to build from (QEMU: the verified file in the cache; a
    /// cloud: an image in it).
    type Base: Clone + Send + Sync;
    /// A built cell whose machine has stopped, not yet exported.
    type Built: Send;
    /// What a built cell became: the [`Artifact`] targets store, and what
    /// the backend keeps of it for verify and release (a cloud: the
    /// builder's instance-id, a snapshot kept for the verify boot).
    type Exported: AsRef<Artifact> + Send + Sync;

    /// The steps this backend adds to the plan. Pure: `plan` asks it
    /// without touching anything.
    fn steps(&self) -> &'static BackendSteps;

    /// How many of `resource` may be held at once; `None` for resources
    /// this backend does not limit.
    fn capacity(&self, resource: Resource) -> Option<usize>;

    /// The start of a run that builds `cells` cells (maybe none) from bases
    /// with these SHA-256s (by base name): clean up what killed runs left,
    /// settle what depends on the host or the cloud (it may probe). Lines
    /// for the user: which accelerator, how many machines at once, what
    /// was cleaned up, warnings.
    fn start(&self, cells: usize, bases: &BTreeMap<String, String>) -> Vec<String>;

    /// What `pipeline init` checks and prepares for a first run: what this
    /// host or cloud needs (tools, firmware, the accelerator, room, quota,
    /// credentials), and `bases` (fetched, by name) made ready as
    /// `prepare_base` would (a cloud stages them). Creates nothing else.
    fn init(&self, bases: &[(&str, &FetchedBase)]) -> Vec<Check>;

    fn prepare_base(&self, job: &BaseJob, fetched: &FetchedBase) -> StepResult<Self::Base>;

    /// Hand the cell's machine its inputs (only called when
    /// [`BackendSteps::provision`] is set).
    fn provision(&self, job: &CellJob) -> StepResult<()>;

    /// Start the cell's machine from `base` with its user-data and
    /// secrets, wait for the guest's result (only lines with the nonce
    /// count), and make sure the machine is stopped.
    fn build(&self, job: &CellJob, base: &Self::Base) -> StepResult<Self::Built>;

    /// What targets store, from a built cell.
    fn export(&self, job: &CellJob, built: Self::Built) -> StepResult<Self::Exported>;

    /// Boot `artifact` once more as a brand-new instance (new instance-id,
    /// `check.user_data` as its user-data, no secret but what the checks
    /// need to look for), wait for its verdict and make sure the machine is
    /// gone. The artifact's bytes stay as they are: what boots is a
    /// throwaway copy.
    fn verify(
        &self,
        job: &CellJob,
        exported: &Self::Exported,
        check: &VerifyJob,
    ) -> StepResult<Verified>;

    /// A built cell that will not be exported (the run stopped): give back
    /// what it holds. The error is for the user; nothing is retried.
    fn discard(&self, built: Self::Built) -> StepResult<()>;

    /// The run is done with what was exported (every target has it, or the
    /// run stopped): give back what it holds unless a target adopted it.
    fn release(&self, exported: &Self::Exported, adopted: bool) -> StepResult<()>;

    /// Local disk the run's `builds` need at most, from bases of at most
    /// `largest_base` bytes: (the directory, bytes). A backend that builds
    /// elsewhere needs none.
    fn scratch_need(&self, _builds: usize, _largest_base: u64) -> Option<(Utf8PathBuf, u64)> {
        None
    }
}

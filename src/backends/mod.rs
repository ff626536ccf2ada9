//! Backends: where a cell is built. Each is one folder implementing
//! [`Backend`]; the executor above them knows only the trait, and the plan
//! only the [`BackendSteps`] a backend describes itself with.

mod backend;
mod backend_error;
mod build_backend;
mod cell_job;
pub mod guest_boot;
mod machine;
pub mod openstack;
pub mod qemu;
mod verified;
mod verify_job;

pub use backend::Backend;
pub use backend_error::BackendError;
pub use build_backend::{
    BuildBackend, DEFAULT, NAMES, RawBuildBackend, extend_build_schema, keys_of,
};
pub use cell_job::{BaseJob, CellJob};
pub use machine::{Machine, MachineState};
pub use verified::Verified;
pub use verify_job::VerifyJob;

use crate::model::{Recipe, Secrets};
use crate::state::Layout;

/// What opening a backend needs besides the recipe.
pub struct Options<'a> {
    /// Build machines at once (`--jobs`), when given.
    pub jobs: Option<usize>,
    /// Where pipeline keeps things here (a backend may remember things
    /// about the host in the state directory).
    pub layout: &'a Layout,
    /// The recipe's ownership mark (what a backend makes carries it).
    pub owner: &'a str,
    /// This run's id.
    pub run_id: &'a str,
}

/// Code generic over the backend: [`open`] calls it with the recipe's.
pub trait WithBackend {
    type Output;
    fn with<B: Backend>(self, backend: &B) -> Self::Output;
}

/// Open the recipe's backend (reading local configuration only) and run
/// `code` with it.
pub fn open<W: WithBackend>(
    recipe: &Recipe,
    options: &Options,
    code: W,
) -> Result<W::Output, BackendError> {
    match &recipe.build.backend {
        BuildBackend::Qemu(_) => Ok(code.with(&qemu::QemuBackend::new(
            recipe,
            options.jobs,
            options.layout,
        ))),
        BuildBackend::Openstack(settings) => {
            let backend =
                openstack::OpenstackBackend::open(recipe, settings, options.owner, options.run_id)?;
            Ok(code.with(&backend))
        }
    }
}

/// Whether the recipe's backend can hand `secrets` to a build safely
/// (checked before anything is created).
pub fn check_secrets(recipe: &Recipe, secrets: &Secrets) -> Result<(), BackendError> {
    recipe
        .build
        .backend
        .check_secrets(recipe.file.path.as_str(), secrets)
}

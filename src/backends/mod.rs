//! Backends: where a cell is built. Each is one folder implementing
//! [`Backend`]; the executor above them knows only the trait, and the plan
//! only the [`BackendSteps`] a backend describes itself with.

mod backend;
mod cell_job;
pub mod openstack;
pub mod qemu;
mod verified;
mod verify_job;

pub use backend::Backend;
pub use cell_job::{BaseJob, CellJob};
pub use verified::Verified;
pub use verify_job::VerifyJob;

use crate::model::{self, Recipe, Secrets};
use crate::plan::BackendSteps;
use crate::state::Layout;

/// The steps a recipe's backend adds to its plan (pure).
pub fn steps_of(kind: model::Backend) -> &'static BackendSteps {
    match kind {
        model::Backend::Qemu => &qemu::STEPS,
        model::Backend::Openstack => &openstack::STEPS,
    }
}

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
) -> Result<W::Output, String> {
    match recipe.build.backend {
        model::Backend::Qemu => Ok(code.with(&qemu::QemuBackend::new(
            recipe,
            options.jobs,
            options.layout,
        ))),
        model::Backend::Openstack => {
            let settings = recipe
                .build
                .openstack
                .as_ref()
                .ok_or_else(|| format!("{}: [build] has no cloud", recipe.file.path))?;
            let backend =
                openstack::OpenstackBackend::open(recipe, settings, options.owner, options.run_id)?;
            Ok(code.with(&backend))
        }
    }
}

/// Whether the recipe's backend can hand `secrets` to a build safely.
/// A build cloud keeps user-data and server metadata in clear, and
/// cloud-init copies user-data onto the disk that becomes the image; the
/// channel that avoids both (see the README) needs a network the guest
/// does not have yet. So with the OpenStack backend, secrets are refused
/// before anything is created.
pub fn check_secrets(recipe: &Recipe, secrets: &Secrets) -> Result<(), String> {
    if recipe.build.backend != model::Backend::Openstack || secrets.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = secrets.iter().map(|s| s.env_name()).collect();
    Err(format!(
        "{}: `backend = \"openstack\"` cannot take secrets yet, and {} {} set: a build cloud keeps user-data in clear and cloud-init copies it into the image. Unset {}, or build this recipe with `backend = \"qemu\"` (README: Secrets on a build cloud)",
        recipe.file.path,
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        if names.len() == 1 { "it" } else { "them" },
    ))
}

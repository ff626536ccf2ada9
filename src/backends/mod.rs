//! Backends: where a cell is built. Each is one folder implementing
//! [`Backend`]; the executor above them knows only the trait, and the plan
//! only the [`BackendSteps`] a backend describes itself with.

mod backend;
mod cell_job;
pub mod qemu;

pub use backend::Backend;
pub use cell_job::{BaseJob, CellJob};

use crate::model::{self, Recipe};
use crate::plan::{BackendSteps, Resource, StepShape};
use camino::Utf8Path;

/// The steps a recipe's backend adds to its plan (pure).
pub fn steps_of(kind: model::Backend) -> &'static BackendSteps {
    match kind {
        model::Backend::Qemu => &qemu::STEPS,
        model::Backend::Openstack => &OPENSTACK_STEPS,
    }
}

/// Builds on an OpenStack build cloud: stage each base as an image, boot a
/// server per cell, snapshot it.
const OPENSTACK_STEPS: BackendSteps = BackendSteps {
    backend: "openstack",
    prepare: Some(StepShape {
        name: "stage",
        holds: Some(Resource::Stage),
    }),
    provision: None,
    build: StepShape {
        name: "boot",
        holds: Some(Resource::Machine),
    },
    export: StepShape {
        name: "snapshot",
        holds: Some(Resource::Machine),
    },
};

/// What opening a backend needs besides the recipe.
pub struct Options<'a> {
    /// Build machines at once (`--jobs`), when given.
    pub jobs: Option<usize>,
    /// The state directory (a backend may remember things about the host).
    pub state_dir: &'a Utf8Path,
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
            options.state_dir,
        ))),
        model::Backend::Openstack => Err(format!(
            "{}: `build.backend = \"openstack\"` (builds on an OpenStack build cloud) is not implemented yet; use \"qemu\"",
            recipe.file.path
        )),
    }
}

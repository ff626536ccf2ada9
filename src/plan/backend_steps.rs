use super::Resource;

/// The steps a backend adds to every plan: the plan asks the backend for
/// them instead of knowing how a cell is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSteps {
    /// `qemu`, `openstack`.
    pub backend: &'static str,
    /// Per base, after fetch: make it ready (a cloud stages it).
    pub prepare: Option<StepShape>,
    /// Per cell, after render (and its base): hand the machine its inputs.
    pub provision: Option<StepShape>,
    /// Per cell: boot until the guest reports, then stop.
    pub build: StepShape,
    /// Per cell: the artifact the targets store.
    pub export: StepShape,
    /// Per cell, with `[verify]`: boot the artifact as a new instance.
    pub verify: StepShape,
}

/// A backend step's name (what `plan` shows) and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepShape {
    pub name: &'static str,
    pub holds: Option<Resource>,
}

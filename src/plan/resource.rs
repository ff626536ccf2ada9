use crate::model::TargetId;

/// What a step holds while it runs; the scheduler grants each up to its
/// capacity (the backend's for `Machine` and `Stage`, the run's for the
/// others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// A build machine: a local VM slot (by cores and memory), or a server
    /// in a build cloud (by its quota). Held from the cell's first backend
    /// step that asks for it to its last.
    Machine,
    /// A base download.
    Fetch,
    /// A base being staged in the build cloud.
    Stage,
    /// An upload to this target.
    Upload(TargetId),
}

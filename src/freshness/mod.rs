//! Rebuild only what changed: input keys, the per-cell decision, and the
//! cache of snapshots that lets a failed run resume without booting.

mod assess;
mod decision;
mod freshness_error;
mod input_key;
mod snapshot_cache;

pub use assess::{AssessInput, assess};
pub use decision::{Action, Decision};
pub use freshness_error::FreshnessError;
pub use input_key::{InputKey, describe_input};
pub use snapshot_cache::SnapshotCache;

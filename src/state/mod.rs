//! What pipeline keeps on this machine: where the cache and the state
//! directory are, the lock that keeps runs of a recipe apart, the leases
//! that tell a dead run's scratch folder, and which recipe file owns each
//! name.

mod layout;
pub mod name_claim;
pub mod run_lock;
pub mod work_lease;

pub use layout::{Layout, ensure_dir};

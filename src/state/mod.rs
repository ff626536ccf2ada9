//! What pipeline keeps on this machine: where the cache and the state
//! directory are, the lock that keeps runs of a recipe apart, and which
//! recipe file owns each name.

mod layout;
pub mod name_claim;
pub mod run_lock;

pub use layout::{Layout, ensure_dir};

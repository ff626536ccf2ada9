//! Test support: a backend whose steps are instant, stores that keep
//! nothing (or what a test gives them), and a perform function that does
//! every job at once, so that the scheduler and freshness run without VMs.
//! Public (hidden) because benchmarks cannot see `cfg(test)` code.

mod fake_backend;
mod fake_recipe;
mod fake_store;
mod fake_world;
mod images;
mod instant;

pub use fake_backend::{FakeBackend, STEPS};
pub use fake_recipe::FakeRecipe;
pub use fake_store::FakeStore;
pub use fake_world::{FakeWorld, decision};
pub use images::{artifact, meta, revision};
pub use instant::instant;

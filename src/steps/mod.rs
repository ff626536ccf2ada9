//! Steps: the units of work of a plan. With targets, the only code that
//! touches the outside world.

pub mod boot;
pub mod fetch;
pub mod render;
pub mod seed;
pub mod snapshot;

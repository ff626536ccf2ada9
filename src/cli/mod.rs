//! The command line: its arguments (clap), the error a command ends with and
//! the exit code that error maps to.

mod args;
mod error;
pub mod exit_code;

pub use args::*;
pub use error::{Error, Result};

//! The scheduler on the fake backend: what runs, in what order, and how
//! each cell ends, without booting a VM.

mod rules;
mod scheduler;
mod script;

use rules::Rules;
use script::{Event, Script};

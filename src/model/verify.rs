use super::Template;
use std::time::Duration;

/// `[verify]`, validated: every built image boots once more, as a new
/// instance running this script, before any target gets it.
#[derive(Debug)]
pub struct Verify {
    pub template: Template,
    pub timeout: Duration,
}

impl Verify {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
}

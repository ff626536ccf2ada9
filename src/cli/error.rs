use super::exit_code;
use crate::output::Diagnostics;

/// Why a command did not succeed; each maps to a distinct exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The recipe has problems (all of them are listed).
    #[error("{0}")]
    Invalid(Diagnostics),
    /// A command-line value is wrong.
    #[error("{0}")]
    Usage(String),
    /// Work was attempted and failed; the message says what and why.
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Locked(String),
    /// Stopped by this signal (SIGINT, SIGTERM) after cleaning up.
    #[error("interrupted")]
    Interrupted(i32),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Usage(_) => exit_code::INVALID,
            Error::Failed(_) => exit_code::FAILED,
            Error::Locked(_) => exit_code::LOCKED,
            Error::Interrupted(signal) => exit_code::of_signal(*signal),
        }
    }

    /// Interrupted by whatever interrupted `cancel` (SIGINT if no signal did).
    pub fn interrupted(cancel: &crate::step::CancelToken) -> Self {
        Error::Interrupted(cancel.signal().unwrap_or(signal_hook::consts::SIGINT))
    }

    /// The signal the process ends by, once this is reported.
    pub fn signal(&self) -> Option<i32> {
        match self {
            Error::Interrupted(signal) => Some(*signal),
            _ => None,
        }
    }
}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Self {
        Error::Invalid(d)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::output::Diagnostic> for Error {
    fn from(d: crate::output::Diagnostic) -> Self {
        Error::Invalid(d.into())
    }
}

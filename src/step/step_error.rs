use std::fmt;

/// Why a step failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: StepErrorKind,
    /// Lowercase, fits after "failed to <step>: ".
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepErrorKind {
    /// A dropped connection, an HTTP 5xx, a lock held for a moment: retried
    /// with backoff a bounded number of times.
    Transient,
    /// Retrying would fail the same way (a checksum mismatch, a provisioning
    /// script that exits 1, an HTTP 4xx).
    Permanent,
    /// The run was interrupted (Ctrl-C / SIGTERM).
    Cancelled,
}

impl StepError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: StepErrorKind::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: StepErrorKind::Permanent,
            message: message.into(),
        }
    }

    pub fn cancelled() -> Self {
        Self {
            kind: StepErrorKind::Cancelled,
            message: "interrupted".into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind == StepErrorKind::Transient
    }

    /// Add context in front: `"{context}: {message}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// An I/O error on a path; `ErrorKind::Interrupted` and friends are not
    /// treated as transient here: file system errors rarely heal by retrying.
    pub fn io(what: impl fmt::Display, e: &std::io::Error) -> Self {
        Self::permanent(format!("{what}: {e}"))
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

pub type StepResult<T> = Result<T, StepError>;

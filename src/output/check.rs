//! What `pipeline init` reports: one line per thing a first run needs, and
//! whether it was there, was made or changed now, or is a problem.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Ready, nothing done.
    Ok,
    /// Made now (a cached base, a store's directory, a staged base).
    Created,
    /// Updated now.
    Changed,
    /// A first run would fail here; the detail says how to fix it.
    Problem,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Created => "created",
            CheckStatus::Changed => "changed",
            CheckStatus::Problem => "problem",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `qemu-img`, `base bookworm`, `target local`.
    pub item: String,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    pub fn new(item: impl Into<String>, status: CheckStatus, detail: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            status,
            detail: detail.into(),
        }
    }

    pub fn ok(item: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(item, CheckStatus::Ok, detail)
    }

    pub fn problem(item: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(item, CheckStatus::Problem, detail)
    }
}

//! The `[build]` keys of the QEMU backend: none of its own yet (cpus,
//! memory, timeout and compression are every backend's), so any other key
//! is refused here.

use schemars::JsonSchema;
use serde::Deserialize;

/// `[build]` keys of `backend = "qemu"`, as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQemuBuild {}

/// The keys the schema requires with this backend.
pub const REQUIRED: &[&str] = &[];

/// `[build]` keys of the QEMU backend, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QemuBuild {}

impl RawQemuBuild {
    pub fn validate(&self) -> QemuBuild {
        QemuBuild {}
    }
}

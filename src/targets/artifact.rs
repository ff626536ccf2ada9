//! What a backend exports and a target stores: an image's bytes, in a local
//! file (a QEMU snapshot) or read from somewhere else (a snapshot in a build
//! cloud's Glance), with its size, and its SHA-256 when known before.

use crate::step::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::io::Read;
use std::sync::Arc;

#[derive(Clone)]
pub struct Artifact {
    /// Bytes.
    pub size: u64,
    /// Known before reading (a local snapshot); `None`: computed as the
    /// bytes stream to each target, which checks it against the size and
    /// records it.
    pub sha256: Option<String>,
    pub source: ArtifactSource,
    /// How it was built, for the manifest's `host` (backend, accelerator,
    /// QEMU version; or cloud, flavor, server and snapshot ids).
    pub built_by: serde_json::Value,
}

#[derive(Clone)]
pub enum ArtifactSource {
    /// A local qcow2 file.
    File(Utf8PathBuf),
    /// Bytes from elsewhere, opened once per target.
    Stream(Arc<dyn StreamSource>),
}

/// Somewhere an artifact's bytes can be read from, as often as needed.
pub trait StreamSource: Send + Sync {
    /// For messages: `image 1f3… on cloud `builder``.
    fn describe(&self) -> String;
    fn open(&self) -> StepResult<Box<dyn Read + Send>>;
    /// The Glance image the bytes are, when they are one (a target in the
    /// same cloud and project may adopt it instead of copying).
    fn glance_image(&self) -> Option<&GlanceLocation> {
        None
    }
}

/// A Glance image, and the Glance and project it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlanceLocation {
    /// The image service's root URL (one per region, for one Keystone).
    pub image_root: String,
    pub project_id: Option<String>,
    pub image_id: String,
}

impl Artifact {
    pub fn file(path: Utf8PathBuf, sha256: String, size: u64, built_by: serde_json::Value) -> Self {
        Self {
            size,
            sha256: Some(sha256),
            source: ArtifactSource::File(path),
            built_by,
        }
    }

    /// The Glance image it is, when it is one.
    pub fn glance_image(&self) -> Option<&GlanceLocation> {
        match &self.source {
            ArtifactSource::Stream(s) => s.glance_image(),
            ArtifactSource::File(_) => None,
        }
    }

    /// The local file, when it is one.
    pub fn path(&self) -> Option<&Utf8Path> {
        match &self.source {
            ArtifactSource::File(p) => Some(p),
            ArtifactSource::Stream(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.source {
            ArtifactSource::File(p) => p.to_string(),
            ArtifactSource::Stream(s) => s.describe(),
        }
    }

    /// A reader of its bytes from the start.
    pub fn open(&self) -> StepResult<Box<dyn Read + Send>> {
        match &self.source {
            ArtifactSource::File(p) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| StepError::io(format_args!("failed to open {p}"), &e))?;
                Ok(Box::new(file))
            }
            ArtifactSource::Stream(s) => s.open(),
        }
    }

    /// The SHA-256 of what a target received must be this one, when known.
    pub fn check_sha256(&self, got: &str) -> StepResult<()> {
        match &self.sha256 {
            Some(want) if !want.eq_ignore_ascii_case(got) => Err(StepError::permanent(format!(
                "checksum mismatch copying {}: expected sha256 {want}, got {got}",
                self.describe()
            ))),
            _ => Ok(()),
        }
    }

    /// What a target received must have its size.
    pub fn check_size(&self, got: u64) -> StepResult<()> {
        if got == self.size {
            return Ok(());
        }
        Err(StepError::permanent(format!(
            "size mismatch copying {}: expected {} bytes, got {}",
            self.describe(),
            self.size,
            if got > self.size {
                format!("more than {}", self.size)
            } else {
                got.to_string()
            }
        )))
    }
}

/// An artifact is what it exports for a backend that keeps nothing else.
impl AsRef<Artifact> for Artifact {
    fn as_ref(&self) -> &Artifact {
        self
    }
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("source", &self.describe())
            .field("size", &self.size)
            .field("sha256", &self.sha256)
            .finish()
    }
}

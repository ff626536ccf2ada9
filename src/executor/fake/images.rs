//! What the fake backend exports and the fake stores hold.

use crate::targets::{Artifact, ImageMeta, Revision};

/// An empty artifact whose SHA-256 is sixty-four zeros.
pub fn artifact() -> Artifact {
    Artifact::file(
        "/dev/null".into(),
        "0".repeat(64),
        0,
        serde_json::Value::Null,
    )
}

/// Revision 1 of `meta.name`.
pub fn revision(meta: ImageMeta) -> Revision {
    Revision {
        id: format!("{}/1", meta.name),
        created_at: String::new(),
        number: Some(1),
        meta,
    }
}

/// What [`artifact`] is, as image `name`.
pub fn meta(name: &str) -> ImageMeta {
    ImageMeta {
        name: name.to_owned(),
        owner: "pipeline:fake".into(),
        arch: "x64".into(),
        base: "b".into(),
        sha256: "0".repeat(64),
        ..ImageMeta::default()
    }
}

use crate::backends::BuildBackend;
use crate::recipe::RawCompression;
use serde::Serialize;
use std::time::Duration;

/// `[build]` settings, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    /// Where cells are built, with the backend's own settings.
    #[serde(serialize_with = "backend_name")]
    pub backend: BuildBackend,
    pub cpus: u32,
    /// Bytes of guest memory.
    pub memory: u64,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    pub compression: Compression,
    #[serde(with = "humantime_serde_compat::option")]
    pub rebuild_after: Option<Duration>,
    /// Most cells the matrix may have.
    pub max_cells: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Zlib,
    Zstd,
}

impl From<RawCompression> for Compression {
    fn from(raw: RawCompression) -> Self {
        match raw {
            RawCompression::None => Compression::None,
            RawCompression::Zlib => Compression::Zlib,
            RawCompression::Zstd => Compression::Zstd,
        }
    }
}

fn backend_name<S: serde::Serializer>(b: &BuildBackend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

/// Durations serialize as humantime strings (`30m`) so plan output reads like the recipe.
mod humantime_serde_compat {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub mod option {
        use serde::Serializer;
        use std::time::Duration;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}

use crate::recipe::{RawBackend, RawCompression};
use serde::Serialize;
use std::time::Duration;

/// `[build]` settings, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub backend: Backend,
    /// The build cloud, with `backend = "openstack"`.
    pub openstack: Option<OpenstackBuild>,
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

/// `[build]` keys of the OpenStack backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenstackBuild {
    /// The cloud's name in clouds.yaml.
    pub cloud: String,
    /// Name or id; `None`: the smallest that fits.
    pub flavor: Option<String>,
    /// Name or id; `None`: no network.
    pub network: Option<String>,
    /// Servers at once; `None`: what the quota allows.
    pub servers: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Qemu,
    Openstack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Zlib,
    Zstd,
}

impl From<RawBackend> for Backend {
    fn from(raw: RawBackend) -> Self {
        match raw {
            RawBackend::Qemu => Backend::Qemu,
            RawBackend::Openstack => Backend::Openstack,
        }
    }
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

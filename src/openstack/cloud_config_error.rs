//! Why a cloud of clouds.yaml cannot be used.

/// Why [`CloudConfig`](super::CloudConfig) cannot resolve a cloud. Found
/// from files only, before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudConfigError {
    /// No name given, no `OS_CLOUD`, no `OS_*` cloud and not exactly one
    /// cloud in the files. `sources`: which files were read.
    #[error("no cloud named and OS_CLOUD is not set; clouds: {} ({sources})", list(.clouds))]
    NoneNamed {
        clouds: Vec<String>,
        sources: String,
    },
    /// `file` defines a cloud with the name of the cloud made from `OS_*`
    /// variables.
    #[error(
        "{file} defines a cloud named `{name}`, but that is also the name of the cloud made from OS_* variables (OS_CLOUD_NAME); rename one"
    )]
    NameClash { file: String, name: String },
    #[error("unknown cloud `{name}`: {} ({sources})", found(.clouds))]
    Unknown {
        name: String,
        clouds: Vec<String>,
        sources: String,
    },
    #[error("cloud `{name}` in {origin}: not a mapping")]
    NotAMapping { name: String, origin: String },
    #[error(
        "cloud `{name}` uses the vendor profile `{profile}`, which is not in a clouds-public.yaml (pipeline does not ship openstacksdk's built-in vendor profiles: write auth_url and region_name in clouds.yaml)"
    )]
    UnknownProfile { name: String, profile: String },
    #[error("cloud `{name}`: a region entry has no name")]
    RegionWithoutName { name: String },
    #[error(
        "cloud `{name}` ({origin}): identity_api_version {version} is not supported: pipeline speaks Keystone v3"
    )]
    IdentityV2 {
        name: String,
        origin: String,
        version: String,
    },
    #[error(
        "cloud `{name}` ({origin}): auth_type `{auth_type}` is not supported (supported: {})",
        super::cloud_config::SUPPORTED_AUTH_TYPES
    )]
    UnsupportedAuthType {
        name: String,
        origin: String,
        auth_type: String,
    },
    #[error(
        "cloud `{name}` ({origin}): invalid api_timeout `{value}`: expected a number of seconds, more than 0 and at most 86400"
    )]
    InvalidApiTimeout {
        name: String,
        origin: String,
        value: String,
    },
    /// Keystone would refuse: `what` says what is missing (`no auth_url`,
    /// `no password (…)`, …).
    #[error("cloud `{name}` ({origin}): {what}")]
    Missing {
        name: String,
        origin: String,
        what: &'static str,
    },
}

fn found(names: &[String]) -> String {
    if names.is_empty() {
        "no clouds are defined".to_owned()
    } else {
        format!("clouds found: {}", list(names))
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

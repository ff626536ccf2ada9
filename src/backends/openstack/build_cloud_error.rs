use super::flavor_choice::FlavorError;
use crate::openstack::CloudConfigError;

/// Why the build cloud's settings do not hold: found before a server exists.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildCloudError {
    /// `build.cloud` is not usable as clouds.yaml describes it (boxed: it
    /// is large, and rare).
    #[error("build cloud `{cloud}`: {error}")]
    Config {
        cloud: String,
        error: Box<CloudConfigError>,
    },
    #[error(transparent)]
    Flavor(#[from] FlavorError),
    /// `build.network` names no network, or several.
    #[error("find network `{name}` on cloud `{cloud}`: {}", match .found {
        0 => "there is none (build.network)".to_owned(),
        n => format!("{n} networks have that name; give its id (build.network)"),
    })]
    Network {
        name: String,
        cloud: String,
        found: usize,
    },
    /// Secrets are set, which a build cloud would keep in clear (`vars`:
    /// their variable names).
    #[error(
        "{recipe}: `backend = \"openstack\"` cannot take secrets yet, and {} {} set: a build cloud keeps user-data in clear and cloud-init copies it into the image. Unset {}, or build this recipe with `backend = \"qemu\"` (README: Secrets on a build cloud)",
        .vars.join(", "),
        if .vars.len() == 1 { "is" } else { "are" },
        if .vars.len() == 1 { "it" } else { "them" }
    )]
    Secrets { recipe: String, vars: Vec<String> },
    /// The cloud did not answer as asked (what it said, already worded).
    #[error("{0}")]
    Api(String),
}

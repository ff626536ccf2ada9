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
    /// The cloud did not answer as asked (what it said, already worded).
    #[error("{0}")]
    Api(String),
}

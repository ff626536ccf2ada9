//! Why the stores behind a recipe's targets cannot be opened.

use crate::openstack::CloudConfigError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The target's cloud is not usable as clouds.yaml describes it.
    #[error("target `{target}` (openstack cloud `{cloud}`): {error}")]
    Cloud {
        target: String,
        cloud: String,
        // Boxed: it is large, and rare.
        error: Box<CloudConfigError>,
    },
    /// Two targets whose cloud names lead to one project of one cloud
    /// (`place`, as [`CloudConfig::project_place`](crate::openstack::CloudConfig::project_place)).
    #[error(
        "targets `{first}` and `{second}` keep their images in the same place ({place}): each would delete the other's images as old revisions; give each target a project or region of its own"
    )]
    SamePlace {
        first: String,
        second: String,
        place: String,
    },
}

use super::openstack::BuildCloudError;

/// Why a recipe's backend cannot take its build, before anything starts.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    BuildCloud(#[from] BuildCloudError),
}

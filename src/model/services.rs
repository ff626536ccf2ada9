use serde::Serialize;

/// `[services]`, validated; empty strings mean "not used".
#[derive(Debug, Clone, Default, Serialize)]
pub struct Services {
    pub proxy: String,
    pub dockerhub_cache: String,
}

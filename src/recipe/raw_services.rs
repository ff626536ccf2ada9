use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[services]`: network services the build may use.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServices {
    /// HTTP proxy the build (the guest and base downloads) uses: an
    /// `http://` or `https://` URL, empty for none.
    #[serde(default)]
    #[schemars(pattern(rules::PROXY))]
    pub proxy: Option<Spanned<String>>,
    /// Registry mirror for docker.io (used by microk8s); empty for none.
    #[serde(default)]
    pub dockerhub_cache: Option<Spanned<String>>,
}

use super::{Spanned, rules};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[verify]`: boot every built image once more, as a new instance, before
/// it is uploaded; only an image whose checks pass is published.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    /// Tera template of the verify script, relative to the recipe file; the
    /// same variables as `image.template`. It must exit 0 for the image to
    /// be published.
    #[schemars(length(min = 1))]
    pub template: Spanned<String>,
    /// Longest a verify VM may run before it is killed, e.g. `10m`
    /// (default 10m, 1s..7d).
    #[serde(default)]
    #[schemars(pattern(rules::DURATION), extend("allOf" = [{ "pattern": rules::NONZERO }]))]
    pub timeout: Option<Spanned<String>>,
}

//! Why a JSON value is not a Glance image.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlanceImageError {
    #[error("an image is not a JSON object")]
    NotAnObject,
    #[error("an image has no id")]
    NoId,
}

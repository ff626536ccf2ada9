use super::SECRET_PREFIX;

/// Why the `PIPELINE_SECRET_*` variables cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "invalid secret variable `{var}`: the name after `{SECRET_PREFIX}` must be A-Z, 0-9 or _"
    )]
    BadName { var: String },
    #[error(
        "invalid secret variable `{var}`: its value is shorter than {min} bytes, too short to keep out of messages (an empty value is fine)"
    )]
    TooShort { var: String, min: usize },
}

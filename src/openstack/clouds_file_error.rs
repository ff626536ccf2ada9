//! Why a clouds.yaml (or secure.yaml, clouds-public.yaml) does not parse.

/// `message`: the parser's (for YAML, its first line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudsFileError {
    #[error("invalid JSON: {message}")]
    InvalidJson { message: String },
    #[error("invalid YAML: {message}")]
    InvalidYaml { message: String },
}

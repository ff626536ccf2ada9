//! Why Keystone's answer gives no usable token.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("keystone's answer has no valid token.expires_at")]
    NoExpiry,
}

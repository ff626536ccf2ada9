use std::time::Duration;

/// What a backend's verify step boots an artifact with.
pub struct VerifyJob<'a> {
    /// The cell's rendered verify script (the backend wraps it, with what
    /// it knows of the instance, in the verify user-data).
    pub script: &'a str,
    /// `image.disk_size` in bytes; 0 when the image keeps its base's size.
    pub disk_size: u64,
    /// `verify.timeout`.
    pub timeout: Duration,
}

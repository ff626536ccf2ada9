/// What a boot is for: it decides which result line is the guest's last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Provision the image: `script=N`, then (when N is 0) `clean=N` last.
    Build,
    /// Check a built image: `PIPELINE_CHECK` lines, `checks=N`, then
    /// `script=N` last.
    Verify,
}

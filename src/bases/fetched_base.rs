use camino::Utf8PathBuf;

/// A verified base image in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBase {
    pub path: Utf8PathBuf,
    pub sha256: String,
    /// As `qemu-img info` reports it: "qcow2", "raw", …
    pub format: String,
    pub virtual_size: u64,
}

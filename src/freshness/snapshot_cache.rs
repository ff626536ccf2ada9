use crate::targets::Artifact;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

/// Snapshots kept by input key until every target holds them, so that a run
/// that failed after the snapshot (at upload, say) resumes without booting.
#[derive(Debug, Clone)]
pub struct SnapshotCache {
    dir: Utf8PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Record {
    sha256: String,
    size: u64,
    image_name: String,
    /// How it was built (run, timings, host), for the manifest of a later
    /// run that only uploads it.
    #[serde(default)]
    build: serde_json::Value,
}

impl SnapshotCache {
    pub fn new(dir: Utf8PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// Where the snapshot step writes the qcow2 of `key`.
    pub fn image_path(&self, key: &str) -> Utf8PathBuf {
        self.dir.join(format!("{key}.qcow2"))
    }

    fn record_path(&self, key: &str) -> Utf8PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The cached snapshot of `key`, if complete (its record is written
    /// last, and only once the qcow2 has its final name).
    pub fn get(&self, key: &str) -> Option<Artifact> {
        let text = std::fs::read_to_string(self.record_path(key)).ok()?;
        let record: Record = serde_json::from_str(&text).ok()?;
        let path = self.image_path(key);
        let size = std::fs::metadata(&path).ok()?.len();
        (size == record.size)
            .then(|| Artifact::file(path, record.sha256, size, record.build["host"].clone()))
    }

    /// Record a snapshot (a local file already at `image_path(key)`).
    pub fn commit(
        &self,
        key: &str,
        image_name: &str,
        artifact: &Artifact,
        build: &serde_json::Value,
    ) -> std::io::Result<()> {
        let record = Record {
            sha256: artifact.sha256.clone().unwrap_or_default(),
            size: artifact.size,
            image_name: image_name.to_owned(),
            build: build.clone(),
        };
        let tmp = self.dir.join(format!(".{key}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&record)?)?;
        std::fs::rename(&tmp, self.record_path(key))
    }

    /// How the cached snapshot of `key` was built, if it is the image with
    /// this SHA-256 (a manifest only ever describes the bytes it names).
    pub fn build_record(&self, key: &str, sha256: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.record_path(key)).ok()?;
        let record: Record = serde_json::from_str(&text).ok()?;
        (!sha256.is_empty() && record.sha256 == sha256).then_some(record.build)
    }

    /// Forget `key` (every target has it now).
    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.record_path(key));
        let _ = std::fs::remove_file(self.image_path(key));
    }
}

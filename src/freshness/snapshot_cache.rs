use super::FreshnessError;
use crate::files::digest::sha256_file;
use crate::step::CancelToken;
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

    /// The cached snapshot of `key`, as [`get`](Self::get) finds it, with
    /// its bytes checked against the SHA-256 recorded: a snapshot that does
    /// not have them would fail every upload of it, run after run, so it
    /// is removed, and the error says so (for a warning: the cell is built
    /// again).
    pub fn verified(&self, key: &str) -> Result<Option<Artifact>, FreshnessError> {
        let Some(artifact) = self.get(key) else {
            return Ok(None);
        };
        let path = self.image_path(key);
        let recorded = artifact.sha256.clone().unwrap_or_default();
        let problem = match sha256_file(&path, &CancelToken::new()) {
            Ok((sha256, _)) if sha256 == recorded => return Ok(Some(artifact)),
            Ok((sha256, _)) => format!("its sha256 is {sha256}, not {recorded} as recorded"),
            Err(e) => e.message,
        };
        self.remove(key);
        Err(FreshnessError::DamagedSnapshot { path, problem })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_with_the_wrong_bytes_is_removed_and_said_so() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(tmp.path().to_owned()).unwrap();
        let cache = SnapshotCache::new(dir.clone());
        let bytes = b"a snapshot";
        let path = cache.image_path("k");
        std::fs::write(&path, bytes).unwrap();
        let sha256 = crate::files::digest::sha256_bytes(bytes);
        let artifact = Artifact::file(path.clone(), sha256.clone(), 10, serde_json::Value::Null);
        cache
            .commit("k", "img", &artifact, &serde_json::Value::Null)
            .unwrap();
        assert_eq!(
            cache.verified("k").unwrap().unwrap().sha256,
            Some(sha256.clone())
        );
        // Same size, other bytes: only the digest tells.
        std::fs::write(&path, b"a snapshoT").unwrap();
        assert!(cache.get("k").is_some());
        let err = cache.verified("k").unwrap_err();
        assert!(
            matches!(&err, FreshnessError::DamagedSnapshot { path: p, .. } if *p == path),
            "{err}"
        );
        let err = err.to_string();
        assert!(
            err.starts_with(&format!(
                "the cached snapshot {path} is damaged (its sha256 is "
            )),
            "{err}"
        );
        assert!(
            err.ends_with(&format!(
                ", not {sha256} as recorded): removed it; the cell is built again"
            )),
            "{err}"
        );
        assert!(cache.get("k").is_none());
        assert!(matches!(cache.verified("k"), Ok(None)));
    }
}

//! A run's scratch folder (`cache/work/<run id>`) is leased: the run holds
//! a `flock` on `cache/work/<run id>.lease` for as long as it lives, and the
//! kernel lets go of it when the run dies, even by SIGKILL. A folder whose
//! lease nobody holds is a dead run's, and the next run (or prune) removes
//! it at once, whichever recipe it belonged to; a live run's is never
//! touched.

use crate::state::{Layout, ensure_dir};
use camino::{Utf8Path, Utf8PathBuf};
use rustix::fs::{FlockOperation, flock};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

/// A folder with no lease at all is from a pipeline before leases: it goes
/// once it is this old.
const UNLEASED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Held while it lives; removes its lease file when dropped (after the run
/// removed its folder).
#[derive(Debug)]
pub struct WorkLease {
    _file: File,
    path: Utf8PathBuf,
}

impl WorkLease {
    /// Take the lease of `run_id`'s scratch folder, before the folder is
    /// made (so that a folder never exists without its lease).
    pub fn take(layout: &Layout, run_id: &str) -> std::io::Result<Self> {
        let work = layout.cache.join("work");
        ensure_dir(&work)?;
        let path = lease_path(&work, run_id);
        loop {
            let file =
                crate::files::open_lock_file(&path).map_err(|e| with_path(e, "open", &path))?;
            flock(&file, FlockOperation::LockExclusive)
                .map_err(|e| with_path(e.into(), "lock", &path))?;
            // A clean-up that found it free just before may have removed it:
            // then this lock is on a file nobody else can see.
            if same_file(&file, &path) {
                return Ok(Self { _file: file, path });
            }
        }
    }
}

impl Drop for WorkLease {
    fn drop(&mut self) {
        // Still held: nobody can take it between the unlink and the close.
        let _ = fs::remove_file(&self.path);
    }
}

/// Remove the scratch folders of runs that are gone (their lease is free);
/// what it removed, for the run's log.
pub fn clean_abandoned(layout: &Layout) -> Vec<String> {
    let work = layout.cache.join("work");
    let Ok(read_dir) = fs::read_dir(&work) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in read_dir.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = work.join(&name);
        if let Some(run_id) = name.strip_suffix(".lease") {
            // For writing too: over NFS an exclusive lock needs a writable file.
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err()
                || !same_file(&file, &path)
            {
                continue;
            }
            // Ours now: the folder first, then the lease, which a folder
            // never outlives.
            let folder = work.join(run_id);
            let gone = match fs::symlink_metadata(&folder) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&folder).is_ok(),
                Ok(_) => false,
                Err(_) => true,
            };
            if gone && fs::remove_file(&path).is_ok() {
                removed.push(format!(
                    "removed {folder}, the scratch folder of a run that ended without removing it"
                ));
            }
        } else if entry.file_type().is_ok_and(|t| t.is_dir())
            && fs::symlink_metadata(lease_path(&work, &name)).is_err()
            && entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
                SystemTime::now()
                    .duration_since(t)
                    .is_ok_and(|age| age > UNLEASED_AFTER)
            })
            && fs::remove_dir_all(&path).is_ok()
        {
            removed.push(format!(
                "removed {path}, the scratch folder of a run of an older pipeline that ended without removing it"
            ));
        }
    }
    removed
}

fn lease_path(work: &Utf8Path, run_id: &str) -> Utf8PathBuf {
    work.join(format!("{run_id}.lease"))
}

/// Whether `file` is still what `path` names.
fn same_file(file: &File, path: &Utf8Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn with_path(e: std::io::Error, verb: &str, path: &Utf8Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("failed to {verb} {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let tmp = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(tmp.path().to_owned()).unwrap();
        let layout = Layout {
            cache: root.join("cache"),
            state: root.join("state"),
        };
        (tmp, layout)
    }

    fn names(layout: &Layout) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(layout.cache.join("work"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_dead_runs_folder_goes_at_once_and_a_live_ones_stays() {
        let (_tmp, layout) = layout();
        let live = WorkLease::take(&layout, "live").unwrap();
        ensure_dir(&layout.work("live").join("cell")).unwrap();
        // A run killed: its lease file stays, nobody holds it.
        fs::write(layout.cache.join("work/dead.lease"), "").unwrap();
        ensure_dir(&layout.work("dead").join("cell")).unwrap();
        fs::write(layout.work("dead").join("cell/overlay.qcow2"), "x").unwrap();
        // A fresh folder of an older pipeline (no lease): not yet.
        ensure_dir(&layout.work("older")).unwrap();

        let removed = clean_abandoned(&layout);
        assert_eq!(
            removed,
            [format!(
                "removed {}, the scratch folder of a run that ended without removing it",
                layout.work("dead")
            )]
        );
        assert_eq!(names(&layout), ["live", "live.lease", "older"]);
        assert!(clean_abandoned(&layout).is_empty());
        drop(live);
        assert_eq!(names(&layout), ["live", "older"]);
    }
}

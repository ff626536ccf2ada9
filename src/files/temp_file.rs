//! Files and directories that exist only until the work making them has
//! succeeded: removed when dropped (on an error, a cancellation or a panic),
//! unless kept. Every partial download, copy, seed and run directory of
//! scratch files goes through [`TempPath`].

use crate::step::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// A path that is removed when dropped (a file, or a directory with
/// everything in it) unless [`TempPath::keep`] is called.
#[derive(Debug)]
pub struct TempPath {
    path: Utf8PathBuf,
    keep: bool,
}

impl TempPath {
    pub fn new(path: impl Into<Utf8PathBuf>) -> Self {
        Self {
            path: path.into(),
            keep: false,
        }
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Rename it to `to`; the guard then removes `to` instead.
    pub fn rename_to(mut self, to: impl Into<Utf8PathBuf>) -> StepResult<TempPath> {
        let to = to.into();
        fs::rename(&self.path, &to).map_err(|e| {
            StepError::io(format_args!("failed to rename {} to {to}", self.path), &e)
        })?;
        self.keep = true;
        Ok(TempPath::new(to))
    }

    /// It is done: leave it where it is.
    pub fn keep(mut self) -> Utf8PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.keep || self.path.as_str().is_empty() {
            return;
        }
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.is_dir() => {
                let _ = fs::remove_dir_all(&self.path);
            }
            Ok(_) => {
                let _ = fs::remove_file(&self.path);
            }
            Err(_) => {}
        }
    }
}

/// A new file being written, removed when dropped unless it was renamed
/// into place with [`TempFile::persist`] (or its guard kept).
#[derive(Debug)]
pub struct TempFile {
    guard: TempPath,
    file: Option<File>,
}

impl TempFile {
    /// Create `path`, which must not exist.
    pub fn create(path: impl Into<Utf8PathBuf>) -> StepResult<Self> {
        Self::create_with_mode(path, 0o644)
    }

    /// Create `path` readable by its owner only (it may hold secrets).
    pub fn create_private(path: impl Into<Utf8PathBuf>) -> StepResult<Self> {
        Self::create_with_mode(path, 0o600)
    }

    fn create_with_mode(path: impl Into<Utf8PathBuf>, mode: u32) -> StepResult<Self> {
        let path = path.into();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| StepError::io(format_args!("failed to create {path}"), &e))?;
        Ok(Self {
            guard: TempPath::new(path),
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Utf8Path {
        self.guard.path()
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("a TempFile is open until it is renamed")
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> StepResult<()> {
        let path = self.guard.path().to_owned();
        self.file()
            .write_all(bytes)
            .map_err(|e| StepError::io(format_args!("failed to write {path}"), &e))
    }

    /// Its bytes are on disk.
    pub fn sync(&mut self) -> StepResult<()> {
        let path = self.guard.path().to_owned();
        self.file()
            .sync_all()
            .map_err(|e| StepError::io(format_args!("failed to sync {path}"), &e))
    }

    /// Close it and rename it to `to`; the returned guard removes `to`
    /// unless kept (for publishing several files all or none).
    pub fn rename_to(mut self, to: impl Into<Utf8PathBuf>) -> StepResult<TempPath> {
        self.file = None;
        let guard = std::mem::replace(&mut self.guard, TempPath::new(Utf8PathBuf::new()));
        guard.rename_to(to)
    }

    /// Close it and leave it where it is.
    pub fn keep(mut self) -> Utf8PathBuf {
        self.file = None;
        std::mem::replace(&mut self.guard, TempPath::new(Utf8PathBuf::new())).keep()
    }

    /// Close it and rename it to `to`, for good.
    pub fn persist(self, to: impl Into<Utf8PathBuf>) -> StepResult<Utf8PathBuf> {
        Ok(self.rename_to(to)?.keep())
    }
}

/// Make renames in `dir` durable (best effort where the file system does
/// not allow it is the caller's choice: this reports the error).
pub fn sync_dir(dir: &Utf8Path) -> StepResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StepError::io(format_args!("failed to sync {dir}"), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, Utf8PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = Utf8PathBuf::from_path_buf(d.path().to_owned()).unwrap();
        (d, p)
    }

    #[test]
    fn a_dropped_file_is_removed_and_a_persisted_one_stays() {
        let (_d, root) = dir();
        let mut t = TempFile::create(root.join("a.tmp")).unwrap();
        t.write_all(b"x").unwrap();
        drop(t);
        assert!(!root.join("a.tmp").exists());

        let mut t = TempFile::create(root.join("b.tmp")).unwrap();
        t.write_all(b"y").unwrap();
        t.sync().unwrap();
        t.persist(root.join("b")).unwrap();
        assert_eq!(fs::read(root.join("b")).unwrap(), b"y");
        assert!(!root.join("b.tmp").exists());
    }

    #[test]
    fn a_renamed_file_is_still_guarded_until_kept() {
        let (_d, root) = dir();
        let t = TempFile::create(root.join("c.tmp")).unwrap();
        let guard = t.rename_to(root.join("c")).unwrap();
        assert!(root.join("c").exists());
        drop(guard);
        assert!(!root.join("c").exists());
    }

    #[test]
    fn a_directory_goes_with_its_contents() {
        let (_d, root) = dir();
        fs::create_dir_all(root.join("w/x")).unwrap();
        fs::write(root.join("w/x/f"), "f").unwrap();
        drop(TempPath::new(root.join("w")));
        assert!(!root.join("w").exists());
        let _first = TempFile::create(root.join("d")).unwrap();
        assert!(
            TempFile::create(root.join("d")).is_err(),
            "an existing file is never taken over"
        );
    }

    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, root) = dir();
        let t = TempFile::create_private(root.join("s")).unwrap();
        let mode = fs::metadata(t.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

//! Two runs of the same recipe never overlap, nor a run and a prune: a lock
//! file per recipe in the state directory, held (flock) for the whole run.

use crate::cli::Error;
use crate::model::Recipe;
use crate::state::{Layout, ensure_dir};
use camino::Utf8PathBuf;
use rustix::fs::{FlockOperation, flock};
use std::io::{Read, Seek, Write};

/// Held while it lives; the kernel releases it if the process dies.
pub struct RunLock {
    _file: std::fs::File,
    pub path: Utf8PathBuf,
}

#[derive(Debug)]
pub enum LockError {
    /// Another run holds it; what it wrote about itself.
    Busy {
        path: Utf8PathBuf,
        holder: String,
    },
    Io(String),
}

/// One lock per recipe file: its name plus a hash of its absolute path, so
/// two recipes called `demo.toml` in different places do not collide.
pub fn lock_path(layout: &Layout, recipe: &Recipe) -> Utf8PathBuf {
    let abs = recipe
        .dir
        .join(recipe.file.path.file_name().unwrap_or("recipe.toml"));
    let hash = crate::files::digest::sha256_bytes(abs.as_str().as_bytes());
    layout
        .locks()
        .join(format!("{}-{}.lock", recipe.name, &hash[..12]))
}

/// Take the lock; with `wait`, block until the other run ends (calling
/// `waiting` once with what the holder wrote).
pub fn acquire(
    layout: &Layout,
    recipe: &Recipe,
    wait: bool,
    waiting: impl FnOnce(&str),
) -> Result<RunLock, LockError> {
    let path = lock_path(layout, recipe);
    ensure_dir(&layout.locks()).map_err(|e| LockError::Io(e.to_string()))?;
    let mut file = crate::files::open_lock_file(&path)
        .map_err(|e| LockError::Io(format!("failed to open {path}: {e}")))?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim().to_owned();
        if !wait {
            return Err(LockError::Busy { path, holder });
        }
        waiting(&holder);
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| LockError::Io(format!("failed to lock {path}: {e}")))?;
    }
    // Say who holds it, for the message another run prints.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(
        file,
        "pid {} since {} ({})",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        recipe.file.path
    );
    let _ = file.flush();
    Ok(RunLock { _file: file, path })
}

/// [`acquire`] for a command, which ends when it cannot have the lock:
/// [`Error::Locked`] (exit code 3) when another run holds it and `wait`
/// is not given.
pub fn take(layout: &Layout, recipe: &Recipe, wait: bool) -> Result<RunLock, Error> {
    acquire(layout, recipe, wait, |holder| {
        crate::errln!("waiting for another run of {} ({holder})", recipe.file.path);
    })
    .map_err(|e| match e {
        LockError::Busy { path, holder } => Error::Locked(format!(
            "another run of {} is in progress ({holder}); use --wait to wait for it (lock: {path})",
            recipe.file.path
        )),
        LockError::Io(e) => Error::Failed(e),
    })
}

//! A target that keeps revisions as files in a local directory:
//! `<root>/<image name>/<n>.qcow2` next to `<n>.json` (the [`Revision`],
//! which embeds the [`ImageMeta`]).
//!
//! A revision counts only once its `.json` exists and parses and its image
//! has the size the json records. The json is always published after the
//! image, and deleted after it, so neither an interrupted upload nor an
//! interrupted delete leaves anything that counts; a json whose image is
//! missing or of another size is a damaged revision, which
//! [`Store::list`] reports and a prune removes. A `.json` that is not a
//! regular file, or too big, or not a revision's metadata, is skipped with
//! a warning and never touched. Uploads of one image name take an
//! exclusive `flock` on `<root>/<image name>/.lock` while they choose a
//! number and while they publish; the lock file also records the highest
//! number handed out, so numbers are never reused even after the newest
//! revision is deleted. Numbers are checked, never wrapped: when the
//! highest is `u64::MAX`, an upload fails.
//!
//! The root holds [`MARKER`], which `init` writes: a path that is missing,
//! not a directory, or a directory without it (an unmounted mount point) is
//! not the store, and every other use fails with the fix rather than
//! reporting no images or filling the disk under the mount point. A store
//! made before the marker (one that holds revisions) gets it when first
//! used, with a warning.
//!
//! Every temp file is leased: its writer holds a `flock` on it while it
//! lives, so a temp file nobody holds is a dead upload's, and the next
//! upload or prune removes it at once.

use super::{
    Artifact, Damaged, ImageFileError, ImageMeta, Listing, Revision, RevisionFileError, Store,
    StoreNeed,
};
use crate::files::digest::{CopyError, copy_hashing};
use crate::files::{TempFile, sync_dir};
use crate::output::{Check, CheckStatus};
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

const LOCK_FILE: &str = ".lock";
/// The file in the root that makes a directory the store.
pub const MARKER: &str = ".pipeline-store";
const MARKER_TEXT: &str = "This directory is a pipeline store (a directory target). pipeline refuses\na store path without this file: it tells an unmounted mount point from the store.\n";
/// A revision's `.json` is a few KiB; anything bigger is not one of ours,
/// and is not read.
const META_LIMIT: u64 = 256 * 1024;

/// Revisions of images as files under `root`.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    name: String,
    root: Utf8PathBuf,
}

impl DirectoryStore {
    pub fn new(name: impl Into<String>, root: Utf8PathBuf) -> Self {
        Self {
            name: name.into(),
            root,
        }
    }

    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// The `.qcow2` file of a revision of this store.
    pub fn image_path(&self, rev: &Revision) -> Utf8PathBuf {
        self.root.join(format!("{}.qcow2", rev.id))
    }

    fn image_dir(&self, name: &str) -> StepResult<Utf8PathBuf> {
        if !valid_name(name) {
            return Err(StepError::permanent(format!(
                "invalid image name {name:?} for directory target {}",
                self.name
            )));
        }
        Ok(self.root.join(name))
    }

    /// Choose the number, clean up leftovers and create the temp file, all
    /// under the lock; the temp file (named after the number) then reserves
    /// the number for concurrent uploads.
    fn reserve(&self, dir: &Utf8Path) -> StepResult<(u64, TempFile)> {
        let mut lock = DirLock::acquire(dir)?;
        let entries = scan(dir)?;
        let highest = entries
            .iter()
            .map(|(_, e)| e.number())
            .max()
            .unwrap_or(0)
            .max(lock.last_number());
        let n = highest.checked_add(1).ok_or_else(|| {
            StepError::permanent(format!(
                "cannot number a new revision in {dir}: {highest} is in use, the highest number a revision can have; move the directory aside to start again at 1"
            ))
        })?;
        clean_up(dir, &entries);
        lock.record(n)?;
        let temp = leased(dir.join(format!(".{n}.qcow2.{}.tmp", uuid::Uuid::new_v4())))?;
        Ok((n, temp))
    }

    /// Rename the verified copy to `<n>.qcow2`, then write `<n>.json`.
    fn publish(
        &self,
        dir: &Utf8Path,
        n: u64,
        temp: TempFile,
        meta: &ImageMeta,
    ) -> StepResult<Revision> {
        let _lock = DirLock::acquire(dir)?;
        let image = dir.join(format!("{n}.qcow2"));
        let json = dir.join(format!("{n}.json"));
        for path in [&image, &json] {
            if path.symlink_metadata().is_ok() {
                return Err(StepError::permanent(format!(
                    "failed to publish {path}: it already exists"
                )));
            }
        }
        let now = jiff::Timestamp::now();
        let revision = Revision {
            id: format!("{}/{n}", meta.name),
            created_at: jiff::Timestamp::from_second(now.as_second())
                .unwrap_or(now)
                .to_string(),
            number: Some(n),
            meta: meta.clone(),
        };
        let mut text = serde_json::to_string_pretty(&revision)
            .map_err(|e| StepError::permanent(format!("failed to serialize {json}: {e}")))?;
        text.push('\n');

        // Until the directory is synced, a failure removes what was published
        // (the guards drop in reverse order: the json first).
        let image_guard = temp.rename_to(image)?;
        let mut json_temp = leased(dir.join(format!(".{n}.json.{}.tmp", uuid::Uuid::new_v4())))?;
        json_temp.write_all(text.as_bytes())?;
        json_temp.sync()?;
        let json_guard = json_temp.rename_to(json)?;
        sync_dir(dir)?;
        json_guard.keep();
        image_guard.keep();
        Ok(revision)
    }
}

impl Store for DirectoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn upload(
        &self,
        artifact: &Artifact,
        meta: &ImageMeta,
        cancel: &CancelToken,
        progress: &dyn Fn(u64),
    ) -> StepResult<Revision> {
        cancel.check()?;
        let dir = self.image_dir(&meta.name)?;
        self.check_root()?;
        match fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io_error("create", &dir, &e));
            }
            _ => {}
        }
        let (n, mut temp) = self.reserve(&dir)?;
        let sha256 = copy_verified(artifact, &mut temp, cancel, progress)?;
        temp.sync()?;
        cancel.check()?;
        let meta = ImageMeta {
            sha256,
            ..meta.clone()
        };
        self.publish(&dir, n, temp, &meta)
    }

    fn list(&self, name: &str, owner: &str) -> StepResult<Listing> {
        let dir = self.image_dir(name)?;
        let mut listing = Listing::default();
        listing.warnings.extend(self.check_root()?);
        let entries = match scan(&dir) {
            Ok(entries) => entries,
            Err(_) if !dir.exists() => return Ok(listing),
            Err(e) => return Err(e),
        };
        let mut numbers: Vec<u64> = entries
            .iter()
            .filter_map(|(_, entry)| match entry {
                Entry::Meta(n) => Some(*n),
                _ => None,
            })
            .collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        for (file_name, entry) in &entries {
            if let Entry::Unnumbered = entry {
                listing.warnings.push(format!(
                    "{}: its number is too large for a revision: skipped",
                    dir.join(file_name)
                ));
            }
        }
        for n in numbers {
            let json = dir.join(format!("{n}.json"));
            let rev = match read_revision(&json) {
                Ok(rev) => rev,
                Err(problem) => {
                    listing.warnings.push(format!("{json}: {problem}: skipped"));
                    continue;
                }
            };
            if rev.meta.owner != owner {
                continue;
            }
            let id = format!("{name}/{n}");
            if rev.meta.name != name || rev.number != Some(n) || rev.id != id {
                listing.warnings.push(format!(
                    "{json}: it describes {:?} (image {:?}, number {}), not {id}: skipped",
                    rev.id,
                    rev.meta.name,
                    rev.number.map_or("none".to_owned(), |n| n.to_string())
                ));
                continue;
            }
            match check_image(&dir, n, rev.meta.size) {
                Ok(()) => listing.revisions.push(rev),
                Err(problem) => {
                    listing.warnings.push(format!(
                        "{json}: damaged ({problem}): not counted; prune removes it"
                    ));
                    listing.damaged.push(Damaged {
                        revision: rev,
                        problem: problem.to_string(),
                    });
                }
            }
        }
        Ok(listing)
    }

    /// The image first, then its manifest, then the json, which says whose
    /// it is: a delete cut short leaves a json without an image (damaged,
    /// ours, removed by the next prune), never an image that still counts
    /// or one without an owner.
    fn delete(&self, revision: &Revision) -> StepResult<()> {
        let Some((name, n)) = parse_id(&revision.id) else {
            return Err(StepError::permanent(format!(
                "refusing to delete {:?} from {}: not a revision id of a directory target",
                revision.id, self.root
            )));
        };
        if revision.meta.name != name || revision.number.is_some_and(|number| number != n) {
            return Err(StepError::permanent(format!(
                "refusing to delete {:?} from {}: the id does not match its metadata",
                revision.id, self.root
            )));
        }
        let dir = self.root.join(name);
        let json = dir.join(format!("{n}.json"));
        // What is on disk now must still be this owner's.
        match read_revision(&json) {
            Ok(on_disk) if on_disk.meta.owner == revision.meta.owner => {}
            Ok(on_disk) => {
                return Err(StepError::permanent(format!(
                    "refusing to delete {:?} from {}: {json} says its owner is `{}`, not `{}`",
                    revision.id, self.root, on_disk.meta.owner, revision.meta.owner
                )));
            }
            Err(_) if json.symlink_metadata().is_err() => {}
            Err(problem) => {
                return Err(StepError::permanent(format!(
                    "refusing to delete {:?} from {}: {json}: {problem}",
                    revision.id, self.root
                )));
            }
        }
        remove_if_exists(&dir.join(format!("{n}.qcow2")))?;
        remove_if_exists(&dir.join(format!("{n}.manifest.json")))?;
        remove_if_exists(&json)?;
        match sync_dir(&dir) {
            Err(_) if !dir.exists() => Ok(()),
            other => other,
        }
    }

    fn attach_manifest(&self, revision: &Revision, manifest: &serde_json::Value) -> StepResult<()> {
        write_manifest(self, revision, manifest)
    }

    fn room_for(&self, uploads: usize, image_bytes: u64) -> Option<String> {
        let need = uploads as u64 * image_bytes;
        let free = crate::host::capacity::free_disk(&self.root)?;
        (free < need).then(|| {
            format!(
                "target `{}`: {} free in {}, {uploads} new image(s) of about {} need {}",
                self.name,
                crate::host::capacity::gib(free),
                self.root,
                crate::host::capacity::gib(image_bytes),
                crate::host::capacity::gib(need)
            )
        })
    }

    fn init(&self, need: &StoreNeed) -> Vec<Check> {
        let item = format!("target {}", self.name);
        match self.root.metadata() {
            Ok(m) if !m.is_dir() => {
                return vec![Check::problem(
                    item,
                    format!(
                        "{} is {}, not a directory: point the target's path at the store, or move it aside",
                        self.root,
                        file_kind(m.file_type())
                    ),
                )];
            }
            _ => {}
        }
        let existed = self.root.is_dir();
        if let Err(e) = fs::create_dir_all(&self.root) {
            return vec![Check::problem(
                item,
                format!("failed to create {}: {e}", self.root),
            )];
        }
        let marked = match mark(&self.root) {
            Ok(marked) => marked,
            Err(e) => return vec![Check::problem(item, e.message)],
        };
        let probe = self
            .root
            .join(format!(".init-{}.tmp", uuid::Uuid::new_v4()));
        if let Err(e) = TempFile::create(probe).and_then(|mut t| t.write_all(b"x")) {
            return vec![Check::problem(
                item,
                format!("{} is not writable: {e}", self.root),
            )];
        }
        let bytes = need.bytes();
        let room = crate::host::capacity::free_disk(&self.root);
        let detail = format!(
            "{}; {}{}",
            self.root,
            need.describe(),
            room.map_or(String::new(), |r| format!(
                ", {} free",
                crate::host::capacity::gib(r)
            ))
        );
        if room.is_some_and(|r| r < bytes) {
            return vec![Check::problem(item, format!("not enough room: {detail}"))];
        }
        let status = if existed && !marked {
            CheckStatus::Ok
        } else {
            CheckStatus::Created
        };
        vec![Check::new(item, status, detail)]
    }

    fn clean_up(&self, name: &str) -> Vec<String> {
        let Ok(dir) = self.image_dir(name) else {
            return Vec::new();
        };
        if self.check_root().is_err() || !dir.is_dir() {
            return Vec::new();
        }
        // Only a temp file or an image alone can be a leftover: without
        // one, no need for the lock (nor its file).
        let candidates = scan(&dir).is_ok_and(|entries| {
            entries.iter().any(|(_, e)| match e {
                Entry::Temp(_) => true,
                Entry::Image(n) => !entries.iter().any(|(_, m)| *m == Entry::Meta(*n)),
                _ => false,
            })
        });
        if !candidates {
            return Vec::new();
        }
        let Ok(_lock) = DirLock::acquire(&dir) else {
            return Vec::new();
        };
        match scan(&dir) {
            Ok(entries) => clean_up(&dir, &entries),
            Err(_) => Vec::new(),
        }
    }
}

impl DirectoryStore {
    /// The root is this store: a directory holding [`MARKER`]. A directory
    /// without it is an unmounted mount point or a wrong path, unless it
    /// holds revisions, as a store made before the marker does: that one is
    /// marked now, and the warning says so.
    fn check_root(&self) -> StepResult<Option<String>> {
        let root = &self.root;
        match root.metadata() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StepError::permanent(format!(
                    "the store {root} does not exist: mount the store there, or run `pipeline init` to create it"
                )));
            }
            Err(e) => return Err(io_error("read", root, &e)),
            Ok(m) if !m.is_dir() => {
                return Err(StepError::permanent(format!(
                    "the store {root} is {}, not a directory: point the target's path at the store, or move it aside and run `pipeline init`",
                    file_kind(m.file_type())
                )));
            }
            Ok(_) => {}
        }
        let marker = root.join(MARKER);
        match marker.metadata() {
            Ok(m) if m.is_file() => return Ok(None),
            Ok(m) => {
                return Err(StepError::permanent(format!(
                    "{marker} is {}, not a regular file: remove it and run `pipeline init`",
                    file_kind(m.file_type())
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("read", &marker, &e)),
        }
        if !holds_revisions(root) {
            return Err(StepError::permanent(format!(
                "{root} is not the store: it has no {MARKER} (an unmounted mount point?); mount the store there, or run `pipeline init` to make this directory the store"
            )));
        }
        mark(root)?;
        Ok(Some(format!(
            "{root}: a store made before pipeline marked its stores: marked it now ({MARKER})"
        )))
    }
}

/// Write [`MARKER`] in `root` unless it is there; whether it was written.
fn mark(root: &Utf8Path) -> StepResult<bool> {
    let marker = root.join(MARKER);
    if marker.is_file() {
        return Ok(false);
    }
    // Only its presence counts: no need to write it aside.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_error("create", &marker, &e)),
    };
    file.write_all(MARKER_TEXT.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", &marker, &e))?;
    sync_dir(root)?;
    Ok(true)
}

/// Whether `root` holds an image directory with a revision's file in it
/// (a store made before [`MARKER`]), as far as it can be read.
fn holds_revisions(root: &Utf8Path) -> bool {
    let Ok(read_dir) = fs::read_dir(root) else {
        return false;
    };
    read_dir.flatten().any(|entry| {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return false;
        };
        valid_name(&name)
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && scan(&root.join(&name)).is_ok_and(|entries| {
                entries
                    .iter()
                    .any(|(_, e)| matches!(e, Entry::Meta(_) | Entry::Image(_)))
            })
    })
}

/// A new temp file, leased: this process holds a `flock` on it until it
/// is closed, which tells [`clean_up`] that its writer is alive.
fn leased(path: Utf8PathBuf) -> StepResult<TempFile> {
    let mut temp = TempFile::create(path)?;
    let path = temp.path().to_owned();
    rustix::fs::flock(
        &*temp.file(),
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    )
    .map_err(|e| io_error("lock", &path, &e.into()))?;
    Ok(temp)
}

/// Whether nobody holds the lease of the temp file at `path` (its writer
/// is gone). Anything but a regular file is not ours to judge.
fn abandoned(path: &Utf8Path) -> bool {
    if !path.symlink_metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    // For writing too: over NFS an exclusive lock needs a writable file.
    let Ok(file) = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32)
        .open(path)
    else {
        return false;
    };
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

impl DirectoryStore {
    /// Where a revision's provenance manifest is kept.
    pub fn manifest_path(&self, revision: &Revision) -> Utf8PathBuf {
        self.root.join(format!("{}.manifest.json", revision.id))
    }
}

/// Written beside the image as `<n>.manifest.json`, atomically (the temp
/// name parses as a temp of revision n, so a stale one is cleaned up).
fn write_manifest(
    store: &DirectoryStore,
    revision: &Revision,
    manifest: &serde_json::Value,
) -> StepResult<()> {
    let Some((name, n)) = parse_id(&revision.id) else {
        return Err(StepError::permanent(format!(
            "not a revision id of directory target `{}`: {:?}",
            store.name, revision.id
        )));
    };
    let dir = store.root.join(name);
    let mut text = serde_json::to_string_pretty(manifest)
        .map_err(|e| StepError::permanent(format!("failed to serialize the manifest: {e}")))?;
    text.push('\n');
    // Under the lock: the lease ends when the temp is closed, just before
    // its rename, and a clean-up must not come in between.
    let _lock = DirLock::acquire(&dir)?;
    let mut temp = leased(dir.join(format!(".{n}.json.manifest-{}.tmp", uuid::Uuid::new_v4())))?;
    temp.write_all(text.as_bytes())?;
    temp.sync()?;
    temp.rename_to(store.manifest_path(revision))?.keep();
    sync_dir(&dir)
}

/// Copy the artifact into `dest`, hashing as it goes; fails (and the
/// caller's guard removes `dest`) on cancel, an I/O error, or a size or
/// SHA-256 other than the artifact's. Returns the SHA-256.
fn copy_verified(
    artifact: &Artifact,
    dest: &mut TempFile,
    cancel: &CancelToken,
    progress: &dyn Fn(u64),
) -> StepResult<String> {
    let mut input = artifact.open()?;
    let path = dest.path().to_owned();
    let copied = copy_hashing(
        &mut input,
        Some(dest.file()),
        Some(artifact.size),
        cancel,
        progress,
    )
    .map_err(|e| match e {
        CopyError::Cancelled => StepError::cancelled(),
        CopyError::Read(e) => StepError::io(format!("failed to read {}", artifact.describe()), &e),
        CopyError::Write(e) => io_error("write", &path, &e),
    })?;
    artifact.check_size(copied.size)?;
    artifact.check_sha256(&copied.sha256)?;
    Ok(copied.sha256)
}

/// A file name in an image directory that carries a revision number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `<n>.qcow2`
    Image(u64),
    /// `<n>.json`
    Meta(u64),
    /// `.<n>.qcow2.<uuid>.tmp` or `.<n>.json.<uuid>.tmp`
    Temp(u64),
    /// `<digits>.json` whose number does not fit in a `u64`: no revision,
    /// but worth a warning.
    Unnumbered,
}

impl Entry {
    fn parse(file_name: &str) -> Option<Self> {
        if let Some(rest) = file_name.strip_prefix('.') {
            let rest = rest.strip_suffix(".tmp")?;
            let (n, rest) = rest.split_once('.')?;
            let n = parse_number(n)?;
            (rest.starts_with("qcow2.") || rest.starts_with("json.")).then_some(Self::Temp(n))
        } else {
            let (digits, ext) = file_name.split_once('.')?;
            let Some(n) = parse_number(digits) else {
                let too_large = ext == "json"
                    && !digits.starts_with('0')
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit());
                return too_large.then_some(Self::Unnumbered);
            };
            match ext {
                "qcow2" => Some(Self::Image(n)),
                "json" => Some(Self::Meta(n)),
                _ => None,
            }
        }
    }

    fn number(self) -> u64 {
        match self {
            Self::Image(n) | Self::Meta(n) | Self::Temp(n) => n,
            Self::Unnumbered => 0,
        }
    }
}

/// Decimal digits, no sign, no leading zero (so each number has one name).
fn parse_number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// An image name is one path component that is not hidden.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// `<name>/<n>` → `(name, n)`, for names that stay inside the root.
fn parse_id(id: &str) -> Option<(&str, u64)> {
    let (name, n) = id.split_once('/')?;
    Some((name, parse_number(n)?)).filter(|_| valid_name(name))
}

/// The numbered entries of an image directory.
fn scan(dir: &Utf8Path) -> StepResult<Vec<(String, Entry)>> {
    let read_dir = fs::read_dir(dir).map_err(|e| io_error("read", dir, &e))?;
    let mut entries = Vec::new();
    for entry in read_dir {
        let entry = entry.map_err(|e| io_error("read", dir, &e))?;
        if let Some(file_name) = entry.file_name().to_str()
            && let Some(parsed) = Entry::parse(file_name)
        {
            entries.push((file_name.to_owned(), parsed));
        }
    }
    Ok(entries)
}

/// Best effort, under the lock: remove images whose json never got written
/// (a crash between the two renames) and temp files whose writer is gone
/// (nobody holds their lease). What it removed, for the user.
fn clean_up(dir: &Utf8Path, entries: &[(String, Entry)]) -> Vec<String> {
    let metas: HashSet<u64> = entries
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Meta(n) => Some(*n),
            _ => None,
        })
        .collect();
    let mut removed = Vec::new();
    for (file_name, entry) in entries {
        let path = dir.join(file_name);
        let what = match entry {
            Entry::Image(n) if !metas.contains(n) => "an image whose metadata was never written",
            Entry::Temp(_) if abandoned(&path) => "a temp file of an upload that ended",
            _ => continue,
        };
        if fs::remove_file(&path).is_ok() {
            removed.push(format!("removed {path}, {what}"));
        }
    }
    removed
}

/// A revision's `.json`, read without ever blocking: anything but a regular
/// file (a FIFO, a directory, a device, a symlink to one) is refused before
/// it is opened, the file is opened non-blocking and checked again, and at
/// most [`META_LIMIT`] bytes are read. The error says what is wrong, to
/// follow the path in a warning.
fn read_revision(path: &Utf8Path) -> Result<Revision, RevisionFileError> {
    let text = read_small_file(path, META_LIMIT)?;
    serde_json::from_str(&text).map_err(|error| RevisionFileError::NotMetadata { error })
}

fn read_small_file(path: &Utf8Path, limit: u64) -> Result<String, RevisionFileError> {
    let unreadable = |error: io::Error| RevisionFileError::Unreadable { error };
    let link = path.symlink_metadata().map_err(unreadable)?;
    let meta = if link.file_type().is_symlink() {
        path.metadata()
            .map_err(|error| RevisionFileError::DanglingLink { error })?
    } else {
        link.clone()
    };
    let not_regular = |m: &fs::Metadata| RevisionFileError::NotRegular {
        kind: file_kind(m.file_type()),
        through_link: link.file_type().is_symlink(),
    };
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let too_big = |len: u64| RevisionFileError::TooBig { len, limit };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    // Replaced by something else since? O_NONBLOCK keeps a FIFO from
    // blocking the open; the file type is checked again on what opened.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32)
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| RevisionFileError::NotUtf8)
}

/// "a directory", "a FIFO", …: what a file that is not a regular file is.
fn file_kind(t: fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "something else"
    }
}

/// Whether `<n>.qcow2` is a file of `size` bytes; what is wrong if not.
fn check_image(dir: &Utf8Path, n: u64, size: u64) -> Result<(), ImageFileError> {
    let file_name = format!("{n}.qcow2");
    match dir.join(&file_name).metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ImageFileError::Missing { file_name }),
        Err(error) => Err(ImageFileError::Unreadable { file_name, error }),
        Ok(m) if !m.is_file() => Err(ImageFileError::NotAFile {
            file_name,
            kind: file_kind(m.file_type()),
        }),
        Ok(m) if m.len() != size => Err(ImageFileError::WrongSize {
            file_name,
            has: m.len(),
            expected: size,
        }),
        Ok(_) => Ok(()),
    }
}

/// An exclusive `flock` on `<dir>/.lock`, released on drop. The file holds
/// the highest number handed out so far.
struct DirLock {
    file: File,
    path: Utf8PathBuf,
}

impl DirLock {
    fn acquire(dir: &Utf8Path) -> StepResult<Self> {
        let path = dir.join(LOCK_FILE);
        let file = crate::files::open_lock_file(&path).map_err(|e| io_error("open", &path, &e))?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Self { file, path }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_error("lock", &path, &e.into())),
            }
        }
    }

    /// 0 when the file is empty or unreadable: the directory scan still
    /// covers every number whose files exist.
    fn last_number(&mut self) -> u64 {
        let mut text = String::new();
        let _ = self.file.rewind();
        match self.file.read_to_string(&mut text) {
            Ok(_) => text.trim().parse().unwrap_or(0),
            Err(_) => 0,
        }
    }

    fn record(&mut self, n: u64) -> StepResult<()> {
        let write = |file: &mut File| -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(format!("{n}\n").as_bytes())
        };
        write(&mut self.file).map_err(|e| io_error("write", &self.path, &e))
    }
}

fn remove_if_exists(path: &Utf8Path) -> StepResult<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path, &e)),
        _ => Ok(()),
    }
}

fn io_error(verb: &str, path: impl fmt::Display, e: &io::Error) -> StepError {
    StepError::io(format_args!("failed to {verb} {path}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::StepErrorKind;
    use crate::targets::prunable;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_bad_json_or_image_says_which_kind_of_bad() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).unwrap();
        fs::create_dir(dir.join("1.json")).unwrap();
        assert!(matches!(
            read_revision(&dir.join("1.json")),
            Err(RevisionFileError::NotRegular {
                kind: "a directory",
                through_link: false
            })
        ));
        fs::write(dir.join("2.json"), "{").unwrap();
        assert!(matches!(
            read_revision(&dir.join("2.json")),
            Err(RevisionFileError::NotMetadata { .. })
        ));
        assert!(matches!(
            check_image(&dir, 3, 10),
            Err(ImageFileError::Missing { file_name }) if file_name == "3.qcow2"
        ));
        fs::write(dir.join("4.qcow2"), "x").unwrap();
        assert!(matches!(
            check_image(&dir, 4, 10),
            Err(ImageFileError::WrongSize {
                has: 1,
                expected: 10,
                ..
            })
        ));
    }

    const OWNER: &str = "pipeline:test";
    const NAME: &str = "noble-x64-3.1";

    struct Fixture {
        _tmp: tempfile::TempDir,
        base: Utf8PathBuf,
        store: DirectoryStore,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).unwrap();
        let store = DirectoryStore::new("local", base.join("store"));
        fs::create_dir(store.root()).unwrap();
        assert!(mark(store.root()).unwrap());
        Fixture {
            _tmp: tmp,
            base,
            store,
        }
    }

    impl Fixture {
        /// A source image of `len` bytes and metadata that matches it.
        fn image(&self, file: &str, len: usize) -> (Utf8PathBuf, ImageMeta) {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = self.base.join(file);
            fs::write(&path, &bytes).unwrap();
            let meta = ImageMeta {
                name: NAME.into(),
                owner: OWNER.into(),
                arch: "x64".into(),
                base: "noble".into(),
                cell: [("juju".to_string(), "3.1".to_string())]
                    .into_iter()
                    .collect(),
                sha256: crate::files::digest::sha256_bytes(&bytes),
                size: len as u64,
                recipe_hash: "abc".into(),
                input_key: Some("key".into()),
                inputs: Default::default(),
                os_distro: None,
                os_version: None,
            };
            (path, meta)
        }

        fn upload(&self, file: &Utf8Path, meta: &ImageMeta) -> StepResult<Revision> {
            self.store
                .upload(&artifact(file, meta), meta, &CancelToken::new(), &|_| {})
        }

        fn dir(&self) -> Utf8PathBuf {
            self.store.root().join(NAME)
        }

        /// Every file in the image directory except the lock, sorted.
        fn files(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n != LOCK_FILE)
                .collect();
            names.sort();
            names
        }

        fn revisions(&self) -> Vec<Revision> {
            self.listing().revisions
        }

        fn listing(&self) -> Listing {
            self.store.list(NAME, OWNER).unwrap()
        }

        fn write_json(&self, n: u64, rev: &Revision) {
            fs::write(
                self.dir().join(format!("{n}.json")),
                serde_json::to_string_pretty(rev).unwrap(),
            )
            .unwrap();
        }
    }

    /// The file as an artifact with the size and SHA-256 `meta` claims.
    fn artifact(file: &Utf8Path, meta: &ImageMeta) -> Artifact {
        Artifact::file(
            file.to_owned(),
            meta.sha256.clone(),
            meta.size,
            serde_json::Value::Null,
        )
    }

    fn ids(revs: &[Revision]) -> Vec<String> {
        revs.iter().map(|r| r.id.clone()).collect()
    }

    fn ids_of_damaged(listing: &Listing) -> Vec<String> {
        listing
            .damaged
            .iter()
            .map(|d| d.revision.id.clone())
            .collect()
    }

    fn hand_written(meta: &ImageMeta, n: u64) -> Revision {
        Revision {
            id: format!("{}/{n}", meta.name),
            created_at: "2024-01-01T00:00:00Z".into(),
            number: Some(n),
            meta: meta.clone(),
        }
    }

    #[test]
    fn uploads_get_increasing_numbers_and_are_listed_newest_first() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 1000);
        let mut progress_seen = std::cell::Cell::new(0);
        for expected in 1..=3 {
            let rev = f
                .store
                .upload(&artifact(&file, &meta), &meta, &CancelToken::new(), &|b| {
                    progress_seen.set(b)
                })
                .unwrap();
            assert_eq!(rev.id, format!("{NAME}/{expected}"));
            assert_eq!(rev.number, Some(expected));
            assert_eq!(rev.meta, meta);
            assert!(
                rev.created_at.parse::<jiff::Timestamp>().is_ok(),
                "{}",
                rev.created_at
            );
            assert!(rev.created_at.ends_with('Z'));
            let image = f.store.image_path(&rev);
            assert_eq!(image, f.dir().join(format!("{expected}.qcow2")));
            assert_eq!(fs::read(&image).unwrap(), fs::read(&file).unwrap());
            assert!(f.dir().join(format!("{expected}.json")).is_file());
        }
        assert_eq!(*progress_seen.get_mut(), 1000);
        let revs = f.revisions();
        assert_eq!(
            ids(&revs),
            [
                format!("{NAME}/3"),
                format!("{NAME}/2"),
                format!("{NAME}/1")
            ]
        );
        assert_eq!(
            f.files(),
            [
                "1.json", "1.qcow2", "2.json", "2.qcow2", "3.json", "3.qcow2"
            ]
        );
    }

    #[test]
    fn metadata_round_trips_through_the_json() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let rev = f.upload(&file, &meta).unwrap();
        let text = fs::read_to_string(f.dir().join("1.json")).unwrap();
        assert!(text.contains("\n  \"id\""), "pretty json: {text}");
        let parsed: Revision = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, rev);
        assert_eq!(f.revisions(), [rev]);
    }

    #[test]
    fn missing_directory_is_an_empty_list() {
        let f = fixture();
        assert_eq!(f.revisions(), []);
    }

    #[test]
    fn other_owners_and_json_without_image_are_not_listed() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let ours = f.upload(&file, &meta).unwrap();

        let theirs = ImageMeta {
            owner: "someone-else".into(),
            ..meta.clone()
        };
        let dir = f.dir();
        f.write_json(2, &hand_written(&theirs, 2));
        fs::write(dir.join("2.qcow2"), [7; 10]).unwrap();
        // Ours, but its image is missing: damaged.
        f.write_json(3, &hand_written(&meta, 3));
        // Garbage json is skipped, with a warning naming it.
        fs::write(dir.join("4.json"), "{not json").unwrap();
        fs::write(dir.join("4.qcow2"), b"x").unwrap();

        let listing = f.listing();
        assert_eq!(listing.revisions, [ours]);
        assert_eq!(ids_of_damaged(&listing), [format!("{NAME}/3")]);
        assert_eq!(listing.damaged[0].problem, "3.qcow2 is missing");
        assert_eq!(
            listing.warnings,
            [
                format!(
                    "{dir}/4.json: not a revision's metadata (key must be a string at line 1 column 2): skipped"
                ),
                format!(
                    "{dir}/3.json: damaged (3.qcow2 is missing): not counted; prune removes it"
                ),
            ]
        );
        let theirs = f.store.list(NAME, "someone-else").unwrap();
        assert_eq!(ids(&theirs.revisions), [format!("{NAME}/2")]);
        assert!(theirs.damaged.is_empty());
        // Their numbers still count: the next upload does not reuse them.
        assert_eq!(f.upload(&file, &meta).unwrap().number, Some(5));
    }

    #[test]
    fn an_image_of_another_size_is_damaged_and_prune_removes_it() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 3000);
        for _ in 0..4 {
            f.upload(&file, &meta).unwrap();
        }
        let dir = f.dir();
        fs::write(dir.join("4.qcow2"), b"").unwrap();
        fs::write(dir.join("3.qcow2"), [0; 4000]).unwrap();
        fs::remove_file(dir.join("2.qcow2")).unwrap();
        fs::create_dir(dir.join("2.qcow2")).unwrap();

        let listing = f.listing();
        assert_eq!(ids(&listing.revisions), [format!("{NAME}/1")]);
        let problems: Vec<&str> = listing.damaged.iter().map(|d| d.problem.as_str()).collect();
        assert_eq!(
            problems,
            [
                "4.qcow2 has 0 bytes of 2.9 KiB",
                "3.qcow2 has 3.9 KiB, more than 2.9 KiB",
                "2.qcow2 is a directory",
            ]
        );
        assert_eq!(
            listing.damaged_newest().map(|d| d.revision.id.as_str()),
            Some(format!("{NAME}/4").as_str())
        );
        assert_eq!(listing.warnings.len(), 3);
        assert_eq!(
            listing.warnings[0],
            format!(
                "{dir}/4.json: damaged (4.qcow2 has 0 bytes of 2.9 KiB): not counted; prune removes it"
            )
        );

        // A prune removes the damaged ones (whatever keep says) and reports
        // the one it cannot remove; the others go.
        let doomed = crate::targets::doomed(&listing, 2, None);
        let failed: Vec<String> = doomed
            .iter()
            .filter_map(|d| f.store.delete(d.revision).err())
            .map(|e| e.message)
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].starts_with(&format!("failed to remove {dir}/2.qcow2: ")),
            "{failed:?}"
        );
        assert_eq!(f.files(), ["1.json", "1.qcow2", "2.json", "2.qcow2"]);
        // Once it can be, the next prune finishes it.
        fs::remove_dir(dir.join("2.qcow2")).unwrap();
        let listing = f.listing();
        assert_eq!(listing.damaged[0].problem, "2.qcow2 is missing");
        f.store.delete(&listing.damaged[0].revision).unwrap();
        assert_eq!(f.files(), ["1.json", "1.qcow2"]);
        assert_eq!(f.listing().warnings, Vec::<String>::new());
    }

    #[test]
    fn metadata_that_is_not_a_regular_file_is_skipped_at_once() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        f.upload(&file, &meta).unwrap();
        let dir = f.dir();
        let fifo = dir.join("2.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo.as_std_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        fs::create_dir(dir.join("3.json")).unwrap();
        std::os::unix::fs::symlink(&fifo, dir.join("4.json")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.join("5.json")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("6.json")).unwrap();
        fs::write(dir.join("7.json"), vec![b' '; 1 << 20]).unwrap();
        fs::write(dir.join("8.json"), [0xff, 0xfe]).unwrap();
        // Named like a revision, but no u64 holds the number.
        fs::write(dir.join("18446744073709551616.json"), "{}").unwrap();
        // Real metadata behind a symlink is read.
        fs::rename(dir.join("1.json"), dir.join("one")).unwrap();
        std::os::unix::fs::symlink(dir.join("one"), dir.join("1.json")).unwrap();

        let store = f.store.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(store.list(NAME, OWNER)));
        let listing = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listing blocked")
            .unwrap();
        assert_eq!(ids(&listing.revisions), [format!("{NAME}/1")]);
        let warnings: Vec<String> = listing
            .warnings
            .iter()
            .map(|w| w.replace(dir.as_str(), "DIR"))
            .collect();
        assert_eq!(
            warnings,
            [
                "DIR/18446744073709551616.json: its number is too large for a revision: skipped",
                "DIR/8.json: not a revision's metadata (not UTF-8): skipped",
                "DIR/7.json: too big for a revision's metadata (1.0 MiB; at most 256.0 KiB): skipped",
                "DIR/6.json: a symbolic link to nothing readable (No such file or directory (os error 2)): skipped",
                "DIR/5.json: not a regular file (a symbolic link to a character device): skipped",
                "DIR/4.json: not a regular file (a symbolic link to a FIFO): skipped",
                "DIR/3.json: not a regular file (a directory): skipped",
                "DIR/2.json: not a regular file (a FIFO): skipped",
            ]
        );
        // Nothing of it is touched, and it does not stop an upload.
        assert_eq!(f.upload(&file, &meta).unwrap().number, Some(9));
        assert!(dir.join("3.json").is_dir());
        assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo());
    }

    #[test]
    fn numbers_near_the_limit_fail_the_upload_instead_of_wrapping() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        f.upload(&file, &meta).unwrap();
        let theirs = ImageMeta {
            owner: "someone-else".into(),
            ..meta.clone()
        };
        let max = u64::MAX;
        f.write_json(max - 1, &hand_written(&theirs, max - 1));
        assert_eq!(f.upload(&file, &meta).unwrap().number, Some(max));
        assert_eq!(
            ids(&f.revisions()),
            [format!("{NAME}/{max}"), format!("{NAME}/1")]
        );
        let err = f.upload(&file, &meta).unwrap_err();
        assert_eq!(err.kind, StepErrorKind::Permanent);
        assert_eq!(
            err.message,
            format!(
                "cannot number a new revision in {}: {max} is in use, the highest number a revision can have; move the directory aside to start again at 1",
                f.dir()
            )
        );
        // The lock file remembers it, even once every file is gone.
        for n in [1, max - 1, max] {
            for ext in ["json", "qcow2"] {
                let _ = fs::remove_file(f.dir().join(format!("{n}.{ext}")));
            }
        }
        assert!(f.upload(&file, &meta).is_err());
        assert_eq!(f.files(), Vec::<String>::new());
    }

    #[test]
    fn a_delete_cut_short_leaves_a_damaged_revision_that_the_next_delete_finishes() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let rev = f.upload(&file, &meta).unwrap();
        let dir = f.dir();
        // A manifest that cannot be removed stops the delete after the image.
        fs::create_dir_all(dir.join("1.manifest.json/x")).unwrap();
        let err = f.store.delete(&rev).unwrap_err();
        assert!(
            err.message
                .starts_with(&format!("failed to remove {dir}/1.manifest.json: ")),
            "{}",
            err.message
        );
        assert_eq!(f.files(), ["1.json", "1.manifest.json"]);
        let listing = f.listing();
        assert!(listing.revisions.is_empty());
        assert_eq!(ids_of_damaged(&listing), [format!("{NAME}/1")]);
        fs::remove_dir_all(dir.join("1.manifest.json")).unwrap();
        f.store.delete(&listing.damaged[0].revision).unwrap();
        assert_eq!(f.files(), Vec::<String>::new());
        f.store.delete(&rev).unwrap();
    }

    #[test]
    fn delete_refuses_metadata_that_changed_owner() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let rev = f.upload(&file, &meta).unwrap();
        let theirs = ImageMeta {
            owner: "someone-else".into(),
            ..meta.clone()
        };
        f.write_json(1, &hand_written(&theirs, 1));
        let err = f.store.delete(&rev).unwrap_err();
        assert!(
            err.message.contains("says its owner is `someone-else`"),
            "{}",
            err.message
        );
        fs::write(f.dir().join("1.json"), "{").unwrap();
        assert!(f.store.delete(&rev).is_err());
        assert_eq!(f.files(), ["1.json", "1.qcow2"]);
    }

    #[test]
    fn corrupted_copy_is_not_published() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 3 * (1 << 20) + 7);
        let bad = ImageMeta {
            sha256: "00".repeat(32),
            ..meta.clone()
        };
        let err = f.upload(&file, &bad).unwrap_err();
        assert_eq!(err.kind, StepErrorKind::Permanent);
        assert!(
            err.message.starts_with("checksum mismatch copying "),
            "{}",
            err.message
        );
        assert_eq!(f.files(), Vec::<String>::new());

        let short = ImageMeta {
            size: meta.size + 1,
            ..meta.clone()
        };
        let err = f.upload(&file, &short).unwrap_err();
        assert!(
            err.message.starts_with("size mismatch copying "),
            "{}",
            err.message
        );
        let long = ImageMeta {
            size: 5,
            ..meta.clone()
        };
        assert!(f.upload(&file, &long).is_err());
        assert_eq!(f.files(), Vec::<String>::new());
        assert_eq!(f.revisions(), []);
    }

    #[test]
    fn cancellation_mid_copy_leaves_nothing() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 3 * (1 << 20));
        let cancel = CancelToken::new();
        let calls = std::cell::Cell::new(0);
        let err = f
            .store
            .upload(&artifact(&file, &meta), &meta, &cancel, &|_| {
                calls.set(calls.get() + 1);
                cancel.cancel();
            })
            .unwrap_err();
        assert_eq!(err, StepError::cancelled());
        assert_eq!(calls.get(), 1);
        assert_eq!(f.files(), Vec::<String>::new());
        assert_eq!(f.revisions(), []);
    }

    #[test]
    fn missing_source_is_an_error_naming_it() {
        let f = fixture();
        let (_, meta) = f.image("a.qcow2", 10);
        let missing = f.base.join("missing.qcow2");
        let err = f.upload(&missing, &meta).unwrap_err();
        assert!(
            err.message
                .starts_with(&format!("failed to open {missing}: ")),
            "{}",
            err.message
        );
        assert_eq!(f.files(), Vec::<String>::new());
    }

    #[test]
    fn delete_removes_both_files_and_is_idempotent() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let first = f.upload(&file, &meta).unwrap();
        let second = f.upload(&file, &meta).unwrap();
        f.store.delete(&first).unwrap();
        assert_eq!(f.files(), ["2.json", "2.qcow2"]);
        f.store.delete(&first).unwrap();
        assert_eq!(f.revisions(), std::slice::from_ref(&second));
        // Deleting the newest does not make its number available again.
        f.store.delete(&second).unwrap();
        assert_eq!(f.upload(&file, &meta).unwrap().number, Some(3));
    }

    #[test]
    fn prune_keeps_the_two_newest() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let mut newest = None;
        for _ in 0..5 {
            newest = Some(f.upload(&file, &meta).unwrap());
        }
        let newest = newest.unwrap();
        let revs = f.revisions();
        for rev in prunable(&revs, 2, Some(&newest.id)) {
            f.store.delete(rev).unwrap();
        }
        assert_eq!(
            ids(&f.revisions()),
            [format!("{NAME}/5"), format!("{NAME}/4")]
        );
        assert_eq!(f.files(), ["4.json", "4.qcow2", "5.json", "5.qcow2"]);
    }

    #[test]
    fn ids_that_escape_the_root_are_refused() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let rev = f.upload(&file, &meta).unwrap();
        for id in [
            "../1",
            "..",
            "../../etc/passwd",
            &format!("{NAME}/../1"),
            &format!("{NAME}/1/x"),
            &format!("/{NAME}/1"),
            &format!("{NAME}/x"),
            &format!("{NAME}/01"),
            NAME,
            "",
            "8c1d5e2a-uuid",
        ] {
            let bad = Revision {
                id: id.to_string(),
                ..rev.clone()
            };
            let err = f.store.delete(&bad).unwrap_err();
            assert_eq!(err.kind, StepErrorKind::Permanent, "{id}");
            assert!(
                err.message.starts_with("refusing to delete "),
                "{}",
                err.message
            );
        }
        // Names are checked on upload and listing too.
        let dotted = ImageMeta {
            name: "..".into(),
            ..meta.clone()
        };
        assert!(f.upload(&file, &dotted).is_err());
        assert!(f.store.list("a/b", OWNER).is_err());
        assert_eq!(f.revisions(), [rev]);
    }

    #[test]
    fn next_upload_cleans_up_what_dead_uploads_left_and_never_a_live_one() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        f.upload(&file, &meta).unwrap();
        let dir = f.dir();
        // A crash between the two renames, a dead upload's temp file (just
        // written: its age does not matter, nobody holds it), and one whose
        // writer is alive (it holds the lease).
        fs::write(dir.join("2.qcow2"), b"x").unwrap();
        fs::write(dir.join(".3.qcow2.dead.tmp"), b"x").unwrap();
        let live = leased(dir.join(".4.json.live.tmp")).unwrap();
        assert_eq!(ids(&f.revisions()), [format!("{NAME}/1")]);

        let rev = f.upload(&file, &meta).unwrap();
        assert_eq!(rev.number, Some(5));
        assert_eq!(
            f.files(),
            [".4.json.live.tmp", "1.json", "1.qcow2", "5.json", "5.qcow2"]
        );
        // A prune's clean-up: once its writer is gone, it goes.
        assert_eq!(f.store.clean_up(NAME), Vec::<String>::new());
        // Closed without its guard removing it, as a SIGKILL leaves it.
        live.keep();
        assert_eq!(
            f.store.clean_up(NAME),
            [format!(
                "removed {dir}/.4.json.live.tmp, a temp file of an upload that ended"
            )]
        );
        assert_eq!(f.files(), ["1.json", "1.qcow2", "5.json", "5.qcow2"]);
    }

    #[test]
    fn a_store_that_is_not_there_is_an_error_with_the_fix() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let at = |root: &Utf8Path| DirectoryStore::new("local", root.to_owned());
        let error = |store: &DirectoryStore| {
            let listed = store.list(NAME, OWNER).unwrap_err();
            let uploaded = store
                .upload(&artifact(&file, &meta), &meta, &CancelToken::new(), &|_| {})
                .unwrap_err();
            assert_eq!(listed, uploaded);
            assert_eq!(listed.kind, StepErrorKind::Permanent);
            listed.message.replace(f.base.as_str(), "BASE")
        };
        assert_eq!(
            error(&at(&f.base.join("missing"))),
            "the store BASE/missing does not exist: mount the store there, or run `pipeline init` to create it"
        );
        assert_eq!(
            error(&at(&file)),
            "the store BASE/a.qcow2 is a regular file, not a directory: point the target's path at the store, or move it aside and run `pipeline init`"
        );
        // An empty directory, as an unmounted mount point is, and one with
        // something else in it: neither is the store, nothing is written.
        let empty = f.base.join("mnt");
        fs::create_dir_all(empty.join("lost+found")).unwrap();
        fs::write(empty.join("notes.txt"), "x").unwrap();
        assert_eq!(
            error(&at(&empty)),
            format!(
                "BASE/mnt is not the store: it has no {MARKER} (an unmounted mount point?); mount the store there, or run `pipeline init` to make this directory the store"
            )
        );
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 2);
        // init makes it the store.
        let need = StoreNeed {
            owner: OWNER.into(),
            images: vec![NAME.into()],
            keep: 2,
            image_bytes: 0,
        };
        let checks = at(&empty).init(&need);
        assert_eq!(checks[0].status, CheckStatus::Created, "{checks:?}");
        assert_eq!(at(&empty).init(&need)[0].status, CheckStatus::Ok);
        assert_eq!(at(&empty).list(NAME, OWNER).unwrap(), Listing::default());
        let checks = at(&file).init(&need);
        assert_eq!(checks[0].status, CheckStatus::Problem);
    }

    #[test]
    fn a_store_made_before_the_marker_is_marked_once_with_a_warning() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 10);
        let rev = f.upload(&file, &meta).unwrap();
        fs::remove_file(f.store.root().join(MARKER)).unwrap();
        let listing = f.listing();
        assert_eq!(listing.revisions, [rev]);
        assert_eq!(
            listing.warnings,
            [format!(
                "{}: a store made before pipeline marked its stores: marked it now ({MARKER})",
                f.store.root()
            )]
        );
        assert!(f.store.root().join(MARKER).is_file());
        assert_eq!(f.listing().warnings, Vec::<String>::new());
    }

    #[test]
    fn concurrent_uploads_get_distinct_numbers() {
        let f = fixture();
        let (file, meta) = f.image("a.qcow2", 2 * (1 << 20) + 3);
        let store = Arc::new(f.store.clone());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (store, file, meta) = (store.clone(), file.clone(), meta.clone());
                std::thread::spawn(move || {
                    (0..3)
                        .map(|_| {
                            store
                                .upload(
                                    &artifact(&file, &meta),
                                    &meta,
                                    &CancelToken::new(),
                                    &|_| {},
                                )
                                .unwrap()
                                .number
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut numbers: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
        assert_eq!(f.revisions().len(), 12);
    }

    #[test]
    fn entry_names() {
        assert_eq!(Entry::parse("3.qcow2"), Some(Entry::Image(3)));
        assert_eq!(Entry::parse("12.json"), Some(Entry::Meta(12)));
        assert_eq!(Entry::parse(".7.qcow2.abc.tmp"), Some(Entry::Temp(7)));
        assert_eq!(Entry::parse(".7.json.abc.tmp"), Some(Entry::Temp(7)));
        for other in [
            ".lock",
            "03.json",
            "+3.json",
            "3.json.bak",
            ".3.qcow2",
            "x.qcow2",
            ".3.txt.a.tmp",
        ] {
            assert_eq!(Entry::parse(other), None, "{other}");
        }
    }
}

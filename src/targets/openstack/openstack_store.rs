//! A target that keeps revisions as images in OpenStack Glance (image API
//! v2), found through Keystone v3 with a cloud of clouds.yaml.
//!
//! - A revision is an `active` image whose name is the cell's image name and
//!   whose `pipeline_owner` property is the recipe's owner mark, in the
//!   token's project; its id is the image UUID. See [`GlanceImage`] for the
//!   properties. An `active` image of ours without data (no size, or 0) is
//!   damaged: not counted, and pruned. A `killed` image, or one stuck in
//!   `queued`/`saving`, is not counted and is named in a warning (the next
//!   upload deletes it); a `deactivated` one, an administrator's doing, is
//!   not counted, named in a warning, and left alone.
//! - An upload creates the image (`queued`), streams the file with
//!   Content-Length (`saving`), waits for `active` and compares Glance's
//!   size and `os_hash_value` (or, on a Glance older than multihash, its
//!   MD5 `checksum`) with what was sent. An upload that fails deletes its
//!   image; a delete that fails (the cloud went away), and the image of an
//!   upload that panicked, are tried again before the next upload and, for
//!   up to a minute, in [`Store::finish`] at the end of the run, which says
//!   what is left. Leftovers of crashed runs (`killed`, or `queued`/`saving`
//!   for more than [`STALE_AFTER`]) are swept before each upload.
//! - Opening the store reads clouds.yaml only; the first call that needs the
//!   cloud authenticates (see [`Session`]).

use super::created_image::CreatedImage;
use super::glance_image::{self, ImageProperties};
use crate::http::failure::{status_error, transport_error};
use crate::model::Visibility;
use crate::openstack::{
    CloudConfig, CloudConfigError, ConfigEnv, Glance, GlanceImage, HashingReader, Service, Session,
    encode,
};
use crate::output::Check;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use crate::targets::{Artifact, Damaged, ImageMeta, Listing, Revision, Store, StoreNeed};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest `pipeline_manifest` stored. Glance keeps property values in a
/// TEXT column: 65,535 bytes on MySQL/MariaDB, the usual database; the
/// API itself does not check (the test rig's SQLite took 300 kB).
const MANIFEST_LIMIT: usize = 65_535;
/// How long an image may take to become `active` after its data is in.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(600);
/// A `queued` or `saving` image of ours this old belongs to no live upload.
pub const STALE_AFTER: Duration = Duration::from_secs(12 * 3600);
/// What the build backend marks its images with, and an adopted snapshot
/// loses (so that no later run takes it for a leftover or a staged base).
const BUILD_MARKS: &[&str] = &["pipeline_kind", "pipeline_run", "pipeline_base_sha256"];
/// At the end of a run: how long to keep trying to delete partial images.
const LEFTOVER_PATIENCE: Duration = Duration::from_secs(60);
const LEFTOVER_PATIENCE_INTERRUPTED: Duration = Duration::from_secs(5);

/// Revisions of images in one cloud's Glance.
pub struct OpenstackStore {
    name: String,
    visibility: Visibility,
    session: Session,
    /// Partial images this process failed to delete; tried again later.
    leftovers: Mutex<Vec<String>>,
    interrupted: AtomicBool,
}

impl OpenstackStore {
    /// The target `name` on `cloud` of clouds.yaml, as found from this
    /// process's environment. Reads files only: no network.
    pub fn open(name: &str, cloud: &str, visibility: Visibility) -> Result<Self, CloudConfigError> {
        let config = CloudConfig::resolve(cloud, &ConfigEnv::from_process())?;
        Ok(Self::new(name, config, visibility))
    }

    pub fn new(name: &str, cloud: CloudConfig, visibility: Visibility) -> Self {
        Self {
            name: name.to_owned(),
            visibility,
            session: Session::new(cloud),
            leftovers: Mutex::new(Vec::new()),
            interrupted: AtomicBool::new(false),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    fn cloud(&self) -> &str {
        &self.session.cloud().name
    }

    fn glance(&self) -> Glance<'_> {
        Glance::new(&self.session)
    }

    /// `POST /v2/images`: a queued image with our properties.
    fn create(&self, meta: &ImageMeta) -> StepResult<GlanceImage> {
        let what = format!("create image `{}` on cloud `{}`", meta.name, self.cloud());
        self.glance()
            .create(&what, &GlanceImage::create_body(meta, self.visibility))
    }

    /// Stream the file into the created image, wait for `active`, compare
    /// the checksums: `os_hash_value` (SHA-512 by default, or SHA-256) with
    /// ours; MD5 (`checksum`) only on a Glance that predates
    /// `os_hash_algo`, which `created` (its answer to the create) shows.
    fn fill(
        &self,
        id: &str,
        created: &GlanceImage,
        artifact: &Artifact,
        cancel: &CancelToken,
        progress: &dyn Fn(u64),
    ) -> StepResult<(GlanceImage, String)> {
        let with_md5 = !created.fields.contains_key("os_hash_algo");
        let what = format!("upload {} to cloud `{}`", artifact.describe(), self.cloud());
        let mut reader = HashingReader::new(
            artifact.open()?,
            artifact.describe(),
            artifact.size,
            artifact.sha256.clone(),
            with_md5,
            cancel,
            progress,
        )?;
        let (url, sent) = self.glance().upload(id, artifact.size, &mut reader)?;
        if let Some(failure) = reader.failure.take() {
            return Err(failure);
        }
        if cancel.is_cancelled() {
            return Err(StepError::cancelled());
        }
        match sent {
            Err(e) => return Err(transport_error(&what, &url, &e)),
            Ok((200..=299, _)) => {}
            Ok((401, _)) => {
                return Err(StepError::transient(format!(
                    "{what}: glance rejected the token (http 401); authenticating again"
                )));
            }
            Ok((status, text)) => return Err(status_error(&what, status, &text)),
        }
        let Some((sha256, md5, sha512)) = reader.digests.take() else {
            return Err(StepError::transient(format!(
                "{what}: glance answered after {} of {} bytes",
                reader.sent(),
                artifact.size
            )));
        };
        let stored = self.glance().wait_active(id, ACTIVE_TIMEOUT, cancel)?;
        let mismatch = |what_differs: String| {
            StepError::transient(format!(
                "{what}: glance stored something else than was sent: {what_differs}"
            ))
        };
        if stored.size != Some(artifact.size) {
            return Err(mismatch(format!(
                "size {} instead of {}",
                stored.size.map_or("unknown".to_owned(), |s| s.to_string()),
                artifact.size
            )));
        }
        if let (Some(checksum), Some(md5)) = (&stored.checksum, &md5)
            && !checksum.eq_ignore_ascii_case(md5)
        {
            return Err(mismatch(format!("md5 {checksum} instead of {md5}")));
        }
        // Another algorithm (Glance's `hashing_algorithm` is configurable):
        // only the size was compared.
        let ours = match stored.os_hash_algo.as_deref() {
            Some("sha512") => Some(&sha512),
            Some("sha256") => Some(&sha256),
            Some("md5") => md5.as_ref(),
            _ => None,
        };
        if let (Some(ours), Some(theirs)) = (ours, &stored.os_hash_value)
            && !theirs.eq_ignore_ascii_case(ours)
        {
            return Err(mismatch(format!(
                "{} {theirs} instead of {ours}",
                stored.os_hash_algo.as_deref().unwrap_or_default()
            )));
        }
        Ok((stored, sha256))
    }

    /// Every image named `name` with our `pipeline_owner` in the token's
    /// project, whatever its status.
    fn images(&self, name: &str, owner: &str, active_only: bool) -> StepResult<Vec<GlanceImage>> {
        let what = format!("list images `{name}` on cloud `{}`", self.cloud());
        let token = self.session.token()?;
        let mut query = format!(
            "name={}&{}={}&sort=created_at:desc&limit=100",
            encode(name),
            glance_image::OWNER,
            encode(owner)
        );
        if active_only {
            query.push_str("&status=active");
        }
        if let Some(project) = &token.project_id {
            query.push_str(&format!("&owner={}", encode(project)));
        }
        let mut images = self.glance().list(&what, &query)?;
        // Glance filtered already; this keeps a lax server honest.
        images.retain(|i| i.name == name && i.property(glance_image::OWNER) == Some(owner));
        Ok(images)
    }

    /// Best effort: delete our leftovers of crashed uploads of `name`.
    fn sweep(&self, name: &str, owner: &str) {
        let Ok(images) = self.images(name, owner, false) else {
            return;
        };
        let now = jiff::Timestamp::now();
        for image in images {
            if leftover(&image, now) {
                let _ = self.glance().delete(&image.id);
            }
        }
    }

    /// Make the image `id` (the bytes of `meta`) a revision: its name, our
    /// properties, our visibility; the build's own marks removed. Its
    /// SHA-256 is not known here (the image was never read): it stays empty.
    fn adopt_image(&self, id: &str, meta: &ImageMeta) -> StepResult<Revision> {
        let image = self.glance().get(id)?.ok_or_else(|| {
            StepError::permanent(format!(
                "adopt image {id} on cloud `{}`: it is gone",
                self.cloud()
            ))
        })?;
        let meta = ImageMeta {
            sha256: String::new(),
            ..meta.clone()
        };
        let body = GlanceImage::create_body(&meta, self.visibility);
        let mut operations = Vec::new();
        for (key, value) in body.as_object().into_iter().flatten() {
            if matches!(key.as_str(), "disk_format" | "container_format") {
                continue;
            }
            let op = if image.fields.contains_key(key) {
                "replace"
            } else {
                "add"
            };
            operations.push(json!({ "op": op, "path": format!("/{key}"), "value": value }));
        }
        for key in BUILD_MARKS {
            if image.fields.contains_key(*key) {
                operations.push(json!({ "op": "remove", "path": format!("/{key}") }));
            }
        }
        self.glance().patch(id, &operations)?;
        Ok(Revision {
            id: image.id,
            created_at: image.created_at,
            number: None,
            meta,
        })
    }

    /// The failed upload's delete: on failure the id is kept for later
    /// attempts.
    pub(super) fn discard(&self, id: &str) {
        if self.glance().delete(id).is_err() {
            self.remember_leftover(id);
        }
    }

    /// An image to delete later (its upload panicked, or its delete failed).
    pub(super) fn remember_leftover(&self, id: &str) {
        lock(&self.leftovers).push(id.to_owned());
    }

    /// Try the failed deletes again, for up to `patience`; true when none
    /// is left.
    fn delete_leftovers(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let ids = std::mem::take(&mut *lock(&self.leftovers));
            let failed: Vec<String> = ids
                .into_iter()
                .filter(|id| self.glance().delete(id).is_err())
                .collect();
            if failed.is_empty() {
                return true;
            }
            lock(&self.leftovers).extend(failed);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Store for OpenstackStore {
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
        let result = (|| {
            cancel.check()?;
            self.delete_leftovers(Duration::ZERO);
            self.sweep(&meta.name, &meta.owner);
            cancel.check()?;
            let meta = ImageMeta {
                sha256: artifact.sha256.clone().unwrap_or_default(),
                size: artifact.size,
                ..meta.clone()
            };
            let created = self.create(&meta)?;
            let guard = CreatedImage::new(self, created.id.clone());
            let (stored, sha256) =
                match self.fill(&created.id, &created, artifact, cancel, progress) {
                    Ok(stored) => stored,
                    Err(e) => {
                        guard.discard();
                        return Err(e);
                    }
                };
            guard.keep();
            let meta = ImageMeta { sha256, ..meta };
            if artifact.sha256.is_none() {
                self.glance()
                    .set_properties(&stored.id, &[(glance_image::SHA256, &meta.sha256)])?;
            }
            Ok(Revision {
                id: stored.id,
                created_at: stored.created_at,
                number: None,
                meta,
            })
        })();
        if cancel.is_cancelled() {
            self.interrupted.store(true, Ordering::SeqCst);
        }
        result
    }

    fn list(&self, name: &str, owner: &str) -> StepResult<Listing> {
        let images = self.images(name, owner, false)?;
        Ok(listing(
            images,
            &self.name,
            self.cloud(),
            jiff::Timestamp::now(),
        ))
    }

    fn delete(&self, revision: &Revision) -> StepResult<()> {
        let id = &revision.id;
        let refuse = |why: String| {
            StepError::permanent(format!(
                "refusing to delete {id:?} from target `{}`: {why}",
                self.name
            ))
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(refuse("not a glance image id".to_owned()));
        }
        let Some(image) = self.glance().get(id)? else {
            return Ok(());
        };
        match image.property(glance_image::OWNER) {
            Some(owner) if owner == revision.meta.owner => {}
            Some(owner) => {
                return Err(refuse(format!(
                    "its {} is `{owner}`, not `{}`",
                    glance_image::OWNER,
                    revision.meta.owner
                )));
            }
            None => {
                return Err(refuse(format!(
                    "it has no {} property",
                    glance_image::OWNER
                )));
            }
        }
        if image.name != revision.meta.name {
            return Err(refuse(format!(
                "it is named `{}`, not `{}`",
                image.name, revision.meta.name
            )));
        }
        self.glance().delete(id)
    }

    /// The build cloud's snapshot, when this target is in the same cloud
    /// and project: renamed and given our properties, it is the revision.
    fn adopt(&self, artifact: &Artifact, meta: &ImageMeta) -> Option<StepResult<Revision>> {
        let location = artifact.glance_image()?;
        let token = match self.session.token() {
            Ok(token) => token,
            Err(e) => return Some(Err(e)),
        };
        let same_glance = token.root(Service::Image).ok().as_ref() == Some(&location.image_root);
        if !same_glance || token.project_id.is_none() || token.project_id != location.project_id {
            return None;
        }
        Some(self.adopt_image(&location.image_id, meta))
    }

    fn attach_manifest(&self, revision: &Revision, manifest: &Value) -> StepResult<()> {
        self.glance().set_properties(
            &revision.id,
            &[(glance_image::MANIFEST, &manifest_value(manifest))],
        )
    }

    fn init(&self, need: &StoreNeed) -> Vec<Check> {
        let item = format!("target {}", self.name);
        let token = match self.session.token() {
            Ok(token) => token,
            Err(e) => return vec![Check::problem(item, e.message)],
        };
        let what = format!("list images on cloud `{}`", self.cloud());
        let ours = match self.glance().list(
            &what,
            &format!("{}={}&limit=100", glance_image::OWNER, encode(&need.owner)),
        ) {
            Ok(images) => images,
            Err(e) => return vec![Check::problem(item, e.message)],
        };
        let mut detail = format!(
            "cloud `{}` as {} in project {}; {} image(s) of this recipe there",
            self.cloud(),
            self.session.cloud().user_label(),
            token.project_id.as_deref().unwrap_or("?"),
            ours.len()
        );
        match self.glance().usage() {
            Ok(None) => detail.push_str("; no image quota"),
            Ok(Some(usage)) => {
                let ours_bytes: u64 = ours.iter().filter_map(|i| i.size).sum();
                let short: Vec<String> = [
                    ("images", usage.count, need.count(), ours.len() as u64),
                    (
                        "MiB",
                        usage.size_mib,
                        (need.count() * need.image_bytes) >> 20,
                        ours_bytes >> 20,
                    ),
                ]
                .into_iter()
                .filter_map(|(what, quota, needed, held)| {
                    let (limit, used) = quota?;
                    // What this recipe holds already is part of what it needs.
                    let room = limit.saturating_sub(used) + held;
                    (room < needed).then(|| format!("{what}: room for {room}, needs {needed}"))
                })
                .collect();
                if !short.is_empty() {
                    return vec![Check::problem(
                        item,
                        format!(
                            "the image quota is too small for keep + 1 = {} revisions of {} cell(s) ({}): raise the quota or lower keep",
                            need.keep + 1,
                            need.images.len(),
                            short.join("; ")
                        ),
                    )];
                }
                detail.push_str("; the image quota has room");
            }
            Err(e) => return vec![Check::problem(item, e.message)],
        }
        vec![Check::ok(item, detail)]
    }

    /// Partial images whose delete failed get one more chance while the
    /// cloud comes back (a minute; 5 s after an interrupt).
    fn finish(&self, interrupted: bool) -> Vec<String> {
        let pending = lock(&self.leftovers).len();
        if pending == 0 {
            return Vec::new();
        }
        let patience = if interrupted || self.interrupted.load(Ordering::SeqCst) {
            LEFTOVER_PATIENCE_INTERRUPTED
        } else {
            LEFTOVER_PATIENCE
        };
        let mut said = vec![format!(
            "target `{}`: deleting {pending} partial image(s) from cloud `{}` (waiting up to {} s for it to answer)",
            self.name,
            self.cloud(),
            patience.as_secs()
        )];
        if !self.delete_leftovers(patience) {
            let ids = lock(&self.leftovers).join(" ");
            said.push(format!(
                "warning: target `{}`: could not delete partial image(s) from cloud `{}`; delete them by hand: openstack --os-cloud {} image delete {ids}",
                self.name,
                self.cloud(),
                self.cloud()
            ));
        }
        said
    }
}

/// A leftover of a crashed upload: `killed`, or `queued`/`saving` for more
/// than [`STALE_AFTER`]. The next upload deletes it.
fn leftover(image: &GlanceImage, now: jiff::Timestamp) -> bool {
    let stale = image
        .updated_at
        .parse::<jiff::Timestamp>()
        .is_ok_and(|t| now.duration_since(t).as_secs() > STALE_AFTER.as_secs() as i64);
    image.status == "killed" || (matches!(image.status.as_str(), "queued" | "saving") && stale)
}

/// Our images of one name, whatever their status, as a listing: `active`
/// ones with data are revisions (newest first), `active` ones without are
/// damaged, leftovers and `deactivated` ones are warnings; uploads in
/// progress and images being deleted are not mentioned.
fn listing(images: Vec<GlanceImage>, target: &str, cloud: &str, now: jiff::Timestamp) -> Listing {
    let mut images = images;
    // Newest first; equal times by id, so the order is stable.
    images.sort_by(|a, b| {
        let t = |i: &GlanceImage| i.created_at.parse::<jiff::Timestamp>().ok();
        t(b).cmp(&t(a)).then_with(|| b.id.cmp(&a.id))
    });
    let mut listing = Listing::default();
    let image = |i: &GlanceImage| format!("target `{target}`: image {} on cloud `{cloud}`", i.id);
    for i in &images {
        match i.status.as_str() {
            "active" if i.size.is_some_and(|s| s > 0) => listing.revisions.push(i.revision()),
            "active" => {
                let problem = match i.size {
                    None => "no data in glance",
                    Some(_) => "0 bytes in glance",
                }
                .to_owned();
                listing.warnings.push(format!(
                    "{}: damaged ({problem}): not counted; prune removes it",
                    image(i)
                ));
                listing.damaged.push(Damaged {
                    revision: i.revision(),
                    problem,
                });
            }
            "deactivated" => listing.warnings.push(format!(
                "{}: deactivated (by an administrator): not counted, left alone",
                image(i)
            )),
            _ if leftover(i, now) => listing.warnings.push(format!(
                "{}: a failed upload (`{}` since {}): not counted; the next upload deletes it",
                image(i),
                i.status,
                i.updated_at
            )),
            // Uploads in progress, images being deleted.
            _ => {}
        }
    }
    listing
}

/// The manifest as one property value: compact JSON, or, when that is
/// longer than [`MANIFEST_LIMIT`], a compact subset: the top-level entries
/// that fit (smallest first), plus `pipeline_truncated` with the full
/// manifest's SHA-256, its size and the keys left out. The whole manifest
/// is always in the run directory.
fn manifest_value(manifest: &Value) -> String {
    let full = serde_json::to_string(manifest).expect("JSON serializes");
    if full.len() <= MANIFEST_LIMIT {
        return full;
    }
    let note = |omitted: &[&String]| {
        json!({
            "sha256": hex::encode(Sha256::digest(full.as_bytes())),
            "bytes": full.len(),
            "omitted": omitted,
        })
    };
    let mut subset = Map::new();
    let mut omitted: Vec<&String> = Vec::new();
    if let Value::Object(map) = manifest {
        let mut entries: Vec<(&String, &Value, usize)> = map
            .iter()
            .map(|(k, v)| {
                (
                    k,
                    v,
                    serde_json::to_string(v).map_or(usize::MAX, |s| s.len()),
                )
            })
            .collect();
        entries.sort_by_key(|(k, _, len)| (*len, *k));
        // Room for the note, which lists the omitted keys.
        let keys: usize = map.keys().map(|k| k.len() + 3).sum();
        let budget = MANIFEST_LIMIT.saturating_sub(200 + keys);
        let mut used = 2;
        for (key, value, len) in entries {
            let cost = key.len() + 4 + len;
            if used + cost <= budget {
                subset.insert(key.clone(), value.clone());
                used += cost;
            } else {
                omitted.push(key);
            }
        }
    }
    subset.insert("pipeline_truncated".into(), note(&omitted));
    let text = Value::Object(subset).to_string();
    if text.len() <= MANIFEST_LIMIT {
        text
    } else {
        json!({ "pipeline_truncated": note(&[]) }).to_string()
    }
}

/// Percent-encoding for a query value.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_shared_by_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<OpenstackStore>();
    }

    fn image(id: &str, status: &str, size: Option<u64>, at: &str) -> GlanceImage {
        GlanceImage::from_json(json!({
            "id": id, "name": "n", "status": status, "size": size,
            "created_at": at, "updated_at": at, "pipeline_owner": "pipeline:r",
        }))
        .unwrap()
    }

    #[test]
    fn only_active_images_with_data_count_and_the_rest_is_reported() {
        let now: jiff::Timestamp = "2026-06-02T00:00:00Z".parse().unwrap();
        let images = vec![
            image("a1", "active", Some(10), "2026-06-01T01:00:00Z"),
            image("a3", "active", None, "2026-06-01T03:00:00Z"),
            image("a2", "active", Some(10), "2026-06-01T02:00:00Z"),
            image("z0", "active", Some(0), "2026-05-01T00:00:00Z"),
            image("k", "killed", None, "2026-06-01T00:00:00Z"),
            image("q", "queued", None, "2026-06-01T23:00:00Z"),
            image("s", "saving", None, "2026-05-01T00:00:00Z"),
            image("d", "deactivated", Some(10), "2026-06-01T00:00:00Z"),
            image("p", "pending_delete", Some(10), "2026-06-01T00:00:00Z"),
        ];
        let l = listing(images, "t", "c", now);
        let ids = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            l.revisions
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["a2", "a1"]
        );
        assert_eq!(
            l.damaged
                .iter()
                .map(|d| d.revision.id.as_str())
                .collect::<Vec<_>>(),
            ["a3", "z0"]
        );
        assert_eq!(l.damaged_newest().unwrap().revision.id, "a3");
        assert_eq!(
            l.warnings,
            ids(vec![
                "target `t`: image a3 on cloud `c`: damaged (no data in glance): not counted; prune removes it",
                "target `t`: image k on cloud `c`: a failed upload (`killed` since 2026-06-01T00:00:00Z): not counted; the next upload deletes it",
                "target `t`: image d on cloud `c`: deactivated (by an administrator): not counted, left alone",
                "target `t`: image z0 on cloud `c`: damaged (0 bytes in glance): not counted; prune removes it",
                "target `t`: image s on cloud `c`: a failed upload (`saving` since 2026-05-01T00:00:00Z): not counted; the next upload deletes it",
            ])
        );
    }

    #[test]
    fn small_manifests_are_stored_whole() {
        let m = json!({"tool": {"name": "pipeline"}, "cell": {"base": "noble"}});
        assert_eq!(manifest_value(&m), m.to_string());
    }

    #[test]
    fn big_manifests_keep_what_fits_and_say_what_was_left_out() {
        let m = json!({
            "image_name": "n",
            "input_key": "k",
            "timings": {"boot": "x".repeat(70_000)},
            "host": {"qemu": "9.2"},
        });
        let text = manifest_value(&m);
        assert!(text.len() <= MANIFEST_LIMIT);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["image_name"], "n");
        assert_eq!(v["host"]["qemu"], "9.2");
        assert!(v.get("timings").is_none());
        assert_eq!(v["pipeline_truncated"]["omitted"], json!(["timings"]));
        let full = serde_json::to_string(&m).unwrap();
        assert_eq!(v["pipeline_truncated"]["bytes"], full.len());
        assert_eq!(
            v["pipeline_truncated"]["sha256"],
            hex::encode(Sha256::digest(full.as_bytes()))
        );
        // Not an object at all: only the note.
        let v: Value = serde_json::from_str(&manifest_value(&json!("y".repeat(70_000)))).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
    }
}

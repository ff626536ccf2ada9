//! Deciding, per cell, whether a run builds it, only uploads a cached
//! snapshot, or skips it, by comparing its input key with the newest image
//! each target holds.

use super::input_key::describe_input;
use super::{Action, Decision, FreshnessError, InputKey, SnapshotCache};
use crate::model::{CellId, Recipe, Secrets, TargetId};
use crate::targets::{Artifact, Revision, Store};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct AssessInput<'a> {
    pub recipe: &'a Recipe,
    pub cells: &'a [CellId],
    pub stores: &'a [Box<dyn Store>],
    pub snapshots: &'a SnapshotCache,
    pub secrets: &'a Secrets,
    /// Base name → the SHA-256 it must have, resolved this run.
    pub base_digests: &'a BTreeMap<String, String>,
    pub owner: &'a str,
    pub force: bool,
    pub now: jiff::Timestamp,
}

/// Why a target does not count as holding the cell's current image.
enum Lacking {
    Nothing,
    Changed(Vec<String>),
    Stale(String),
    /// Its newest revision is damaged: (its id, what is wrong).
    Damaged(String, String),
}

pub fn assess(input: &AssessInput) -> Result<Vec<Decision>, FreshnessError> {
    let recipe = input.recipe;
    let names = input.secrets.names();
    let mut decisions = Vec::new();
    for &c in input.cells {
        let cell = &recipe.cells[c];
        let script = recipe
            .render(cell, &names)
            .map_err(|d| FreshnessError::Render(d.to_string()))?;
        let verify = recipe
            .render_verify(cell, &names)
            .transpose()
            .map_err(|d| FreshnessError::Render(d.to_string()))?;
        let base_sha =
            input
                .base_digests
                .get(cell.base())
                .ok_or_else(|| FreshnessError::NoDigest {
                    base: cell.base().to_owned(),
                })?;
        let key = InputKey::compute(
            recipe,
            cell,
            base_sha,
            &script,
            verify.as_deref(),
            input.secrets,
        );

        let mut present: Vec<(TargetId, Revision)> = Vec::new();
        let mut lacking: Vec<(TargetId, Lacking)> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        for (t, store) in recipe.target_ids().zip(input.stores) {
            let listing =
                store
                    .list(&cell.image_name, input.owner)
                    .map_err(|e| FreshnessError::List {
                        target: store.name().to_owned(),
                        message: e.to_string(),
                    })?;
            warnings.extend(listing.warnings.iter().cloned());
            // What the target last received is what it must hold: a damaged
            // newest revision is repaired, even when an older one would do.
            if let Some(damaged) = listing.damaged_newest() {
                lacking.push((
                    t,
                    Lacking::Damaged(damaged.revision.id.clone(), damaged.problem.clone()),
                ));
                continue;
            }
            match listing.revisions.into_iter().next() {
                None => lacking.push((t, Lacking::Nothing)),
                Some(rev) if rev.meta.input_key.as_deref() != Some(key.key.as_str()) => {
                    let changed = if rev.meta.inputs.is_empty() {
                        vec!["its inputs are unknown (built before input keys)".to_owned()]
                    } else {
                        key.changed_since(&rev.meta.inputs)
                            .into_iter()
                            .map(|i| describe_input(i).to_owned())
                            .collect()
                    };
                    lacking.push((t, Lacking::Changed(changed)));
                }
                Some(rev) => {
                    if let Some(ahead) = ahead(&rev, input.now) {
                        warnings.push(format!(
                            "{} on target `{}` is dated {}, {ahead} ahead of this machine's clock: one of the two clocks is wrong",
                            rev.id,
                            store.name(),
                            rev.created_at
                        ));
                    }
                    match stale(&rev, recipe.build.rebuild_after, input.now) {
                        Some(age) => lacking.push((t, Lacking::Stale(age))),
                        None => present.push((t, rev)),
                    }
                }
            }
        }

        let all: Vec<TargetId> = recipe.target_ids().collect();
        let target_names = |ts: &[TargetId]| -> String {
            ts.iter()
                .map(|&t| recipe.targets[t].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Checked only where it would be used: its digest is read in full.
        let usable = !input.force && !lacking.iter().any(|(_, l)| matches!(l, Lacking::Stale(_)));
        let cached = match usable.then(|| input.snapshots.verified(&key.key)) {
            Some(Ok(snapshot)) => snapshot,
            Some(Err(problem)) => {
                warnings.push(problem.to_string());
                None
            }
            None => None,
        };
        let (action, reason) = if input.force {
            (Action::Build { targets: all }, "--force".to_owned())
        } else if let Some((_, Lacking::Stale(why))) =
            lacking.iter().find(|(_, l)| matches!(l, Lacking::Stale(_)))
        {
            (Action::Build { targets: all }, why.clone())
        } else if lacking.is_empty() && holds_cached(&present, cached.as_ref()) {
            // Every upload landed but the run stopped before the record step:
            // the targets hold the cached snapshot's very bytes. (A cached
            // snapshot of other bytes, from a forced rebuild whose upload
            // failed, is not what they hold: they are up to date.)
            (
                Action::Upload {
                    targets: Vec::new(),
                },
                "an earlier run uploaded this image but stopped before recording its manifest"
                    .to_owned(),
            )
        } else if lacking.is_empty() {
            let ids: Vec<String> = present
                .iter()
                .map(|(t, r)| format!("{} {}", recipe.targets[*t].name, r.id))
                .collect();
            (Action::Skip, format!("up to date ({})", ids.join(", ")))
        } else {
            let targets: Vec<TargetId> = lacking.iter().map(|(t, _)| *t).collect();
            let damage = |t: TargetId, id: &str, problem: &str| {
                let name = &recipe.targets[t].name;
                format!("the newest image on {name}, {id}, is damaged ({problem})")
            };
            let why: Vec<String> = lacking
                .iter()
                .map(|(t, l)| {
                    let name = &recipe.targets[*t].name;
                    match l {
                        Lacking::Nothing => format!("no image on {name} yet"),
                        Lacking::Changed(what) => {
                            format!("{} changed since the image on {name}", what.join(" and "))
                        }
                        Lacking::Damaged(id, problem) => damage(*t, id, problem),
                        Lacking::Stale(_) => unreachable!("handled above"),
                    }
                })
                .collect();
            if cached.is_some() {
                let parts: Vec<String> = lacking
                    .iter()
                    .filter_map(|(t, l)| match l {
                        Lacking::Damaged(id, problem) => Some(damage(*t, id, problem)),
                        _ => None,
                    })
                    .chain([format!(
                        "a snapshot of this build is cached from an earlier run; uploading to {}",
                        target_names(&targets)
                    )])
                    .collect();
                (
                    Action::Upload {
                        targets: targets.clone(),
                    },
                    parts.join("; "),
                )
            } else {
                (Action::Build { targets }, dedupe(why).join("; "))
            }
        };
        decisions.push(Decision {
            cell: c,
            key,
            action,
            reason,
            present,
            warnings: dedupe(warnings),
        });
    }
    Ok(decisions)
}

/// Every target's newest revision is the cached snapshot, by SHA-256.
fn holds_cached(present: &[(TargetId, Revision)], cached: Option<&Artifact>) -> bool {
    let Some(sha) = cached
        .and_then(|a| a.sha256.as_deref())
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    !present.is_empty() && present.iter().all(|(_, r)| r.meta.sha256 == sha)
}

/// Dated this far ahead of the clock is skew, not rounding or an NTP step.
const SKEW: Duration = Duration::from_secs(5 * 60);

/// Why `rev` is too old for `rebuild_after`, if it is; dated in the future,
/// it is of unknown age, and too old: a wrong clock must not make an image
/// fresh forever.
fn stale(rev: &Revision, rebuild_after: Option<Duration>, now: jiff::Timestamp) -> Option<String> {
    let limit = rebuild_after?;
    let after = humantime::format_duration(limit);
    if ahead(rev, now).is_some() {
        return Some(format!(
            "the newest image is dated in the future, so its age is unknown (rebuild_after is {after})"
        ));
    }
    let created: jiff::Timestamp = rev.created_at.parse().ok()?;
    let age = Duration::try_from(now.duration_since(created)).ok()?;
    (age > limit).then(|| {
        let age = humantime::format_duration(Duration::from_secs(age.as_secs() / 3600 * 3600));
        format!("the newest image is {age} old, more than rebuild_after ({after})")
    })
}

/// How far ahead of `now` `rev` is dated ("3h"), when by more than [`SKEW`].
fn ahead(rev: &Revision, now: jiff::Timestamp) -> Option<String> {
    let created: jiff::Timestamp = rev.created_at.parse().ok()?;
    let ahead = Duration::try_from(created.duration_since(now)).ok()?;
    (ahead > SKEW).then(|| {
        humantime::format_duration(Duration::from_secs(ahead.as_secs() / 60 * 60)).to_string()
    })
}

fn dedupe(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::fake::{FakeRecipe, FakeStore, meta, revision};
    use camino::Utf8PathBuf;

    #[test]
    fn an_image_dated_in_the_future_is_reported_and_never_fresh_forever() {
        let now: jiff::Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let at = |created: &str| Revision::for_test("n/1", Some(1), created);
        let week = Some(Duration::from_secs(7 * 86400));
        let future = at("2026-06-04T12:30:00Z");
        assert_eq!(ahead(&future, now).as_deref(), Some("3days 30m"));
        assert_eq!(
            stale(&future, week, now).as_deref(),
            Some(
                "the newest image is dated in the future, so its age is unknown (rebuild_after is 7days)"
            )
        );
        // Without rebuild_after, age does not matter: only the warning.
        assert_eq!(stale(&future, None, now), None);
        // A few minutes of skew is nothing to speak of.
        let skewed = at("2026-06-01T12:04:00Z");
        assert_eq!(ahead(&skewed, now), None);
        assert_eq!(stale(&skewed, week, now), None);
        assert_eq!(
            stale(&at("2026-05-22T12:00:00Z"), week, now).as_deref(),
            Some("the newest image is 10days old, more than rebuild_after (7days)")
        );
    }

    /// One cell on two targets, and a snapshot cache in a temp dir.
    struct World {
        fake: FakeRecipe,
        _scratch: tempfile::TempDir,
        snapshots: SnapshotCache,
    }

    impl World {
        fn new() -> Self {
            let scratch = tempfile::tempdir().unwrap();
            let dir = Utf8PathBuf::from_path_buf(scratch.path().to_owned()).unwrap();
            Self {
                fake: FakeRecipe::cells(1),
                _scratch: scratch,
                snapshots: SnapshotCache::new(dir),
            }
        }

        fn assess(&self, stores: &[Box<dyn Store>]) -> Decision {
            let recipe = &self.fake.recipe;
            let cells: Vec<CellId> = recipe.cell_ids().collect();
            let digests = recipe
                .bases
                .keys()
                .map(|b| (b.clone(), "0".repeat(64)))
                .collect();
            let mut decisions = assess(&AssessInput {
                recipe,
                cells: &cells,
                stores,
                snapshots: &self.snapshots,
                secrets: &Secrets::default(),
                base_digests: &digests,
                owner: "pipeline:fake",
                force: false,
                now: jiff::Timestamp::now(),
            })
            .unwrap();
            assert_eq!(decisions.len(), 1);
            decisions.remove(0)
        }

        /// The cell's input key this run.
        fn key(&self) -> String {
            self.assess(&self.stores(None)).key.key
        }

        /// Every target holding nothing, or the cell's current image with
        /// these bytes.
        fn stores(&self, sha256: Option<&str>) -> Vec<Box<dyn Store>> {
            let held = sha256.map(|sha| {
                let cell = &self.fake.recipe.cells[CellId(0)];
                let mut rev = revision(meta(&cell.image_name));
                rev.meta.input_key = Some(self.key());
                rev.meta.sha256 = sha.to_owned();
                rev
            });
            self.fake
                .recipe
                .targets
                .iter()
                .map(|t| {
                    Box::new(FakeStore::holding(&t.name, held.iter().cloned().collect()))
                        as Box<dyn Store>
                })
                .collect()
        }

        /// A snapshot of the current key cached, with these bytes.
        /// A cached snapshot holding `bytes` (its digest checked on reuse).
        fn cache(&self, bytes: &[u8]) {
            let key = self.key();
            std::fs::create_dir_all(self.snapshots.dir()).unwrap();
            let path = self.snapshots.image_path(&key);
            std::fs::write(&path, bytes).unwrap();
            let sha256 = crate::files::digest::sha256_bytes(bytes);
            let artifact =
                Artifact::file(path, sha256, bytes.len() as u64, serde_json::Value::Null);
            self.snapshots
                .commit(&key, "image", &artifact, &serde_json::json!({}))
                .unwrap();
        }
    }

    const IMAGE_A: &[u8] = b"the image the targets hold";
    const IMAGE_B: &[u8] = b"a rebuild of the same inputs";

    fn sha_a() -> String {
        crate::files::digest::sha256_bytes(IMAGE_A)
    }

    #[test]
    fn a_cell_no_target_holds_is_built_for_every_target() {
        let world = World::new();
        let decision = world.assess(&world.stores(None));
        let all: Vec<TargetId> = world.fake.recipe.target_ids().collect();
        assert_eq!(decision.action, Action::Build { targets: all });
    }

    #[test]
    fn a_cell_every_target_holds_is_skipped() {
        let world = World::new();
        let decision = world.assess(&world.stores(Some(&sha_a())));
        assert_eq!(decision.action, Action::Skip);
        assert_eq!(decision.present.len(), 2);
    }

    #[test]
    fn a_cached_snapshot_no_target_holds_is_uploaded_to_every_target() {
        let world = World::new();
        world.cache(IMAGE_A);
        let decision = world.assess(&world.stores(None));
        let all: Vec<TargetId> = world.fake.recipe.target_ids().collect();
        assert_eq!(decision.action, Action::Upload { targets: all });
    }

    #[test]
    fn a_cached_snapshot_every_target_holds_is_only_recorded() {
        let world = World::new();
        world.cache(IMAGE_A);
        let decision = world.assess(&world.stores(Some(&sha_a())));
        assert_eq!(
            decision.action,
            Action::Upload {
                targets: Vec::new()
            }
        );
        assert_eq!(
            decision.reason,
            "an earlier run uploaded this image but stopped before recording its manifest"
        );
    }

    #[test]
    fn a_cached_snapshot_of_other_bytes_than_the_targets_hold_is_not_recorded() {
        // A forced rebuild whose upload failed: the targets are up to date
        // with the earlier image (#20).
        let world = World::new();
        world.cache(IMAGE_B);
        let decision = world.assess(&world.stores(Some(&sha_a())));
        assert_eq!(decision.action, Action::Skip);
    }
}

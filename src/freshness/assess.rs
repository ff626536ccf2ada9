//! Deciding, per cell, whether a run builds it, only uploads a cached
//! snapshot, or skips it, by comparing its input key with the newest image
//! each target holds.

use super::input_key::describe_input;
use super::{Action, Decision, InputKey, SnapshotCache};
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

pub fn assess(input: &AssessInput) -> Result<Vec<Decision>, String> {
    let recipe = input.recipe;
    let names = input.secrets.names();
    let mut decisions = Vec::new();
    for &c in input.cells {
        let cell = &recipe.cells[c];
        let script = recipe.render(cell, &names).map_err(|d| d.to_string())?;
        let verify = recipe
            .render_verify(cell, &names)
            .transpose()
            .map_err(|d| d.to_string())?;
        let base_sha = input
            .base_digests
            .get(cell.base())
            .ok_or_else(|| format!("no digest resolved for base `{}`", cell.base()))?;
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
            let listing = store
                .list(&cell.image_name, input.owner)
                .map_err(|e| format!("failed to list images on target `{}`: {e}", store.name()))?;
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
                Some(rev) => match stale(&rev, recipe.build.rebuild_after, input.now) {
                    Some(age) => lacking.push((t, Lacking::Stale(age))),
                    None => present.push((t, rev)),
                },
            }
        }

        let all: Vec<TargetId> = recipe.target_ids().collect();
        let target_names = |ts: &[TargetId]| -> String {
            ts.iter()
                .map(|&t| recipe.targets[t].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (action, reason) = if input.force {
            (Action::Build { targets: all }, "--force".to_owned())
        } else if let Some((_, Lacking::Stale(age))) =
            lacking.iter().find(|(_, l)| matches!(l, Lacking::Stale(_)))
        {
            let after = recipe
                .build
                .rebuild_after
                .map(|d| humantime::format_duration(d).to_string())
                .unwrap_or_default();
            (
                Action::Build { targets: all },
                format!("the newest image is {age} old, more than rebuild_after ({after})"),
            )
        } else if lacking.is_empty() && holds_cached(&present, input.snapshots.get(&key.key)) {
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
            if input.snapshots.get(&key.key).is_some() {
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
fn holds_cached(present: &[(TargetId, Revision)], cached: Option<Artifact>) -> bool {
    let Some(sha) = cached.and_then(|a| a.sha256).filter(|s| !s.is_empty()) else {
        return false;
    };
    !present.is_empty() && present.iter().all(|(_, r)| r.meta.sha256 == sha)
}

/// "3d 4h" when `rev` is older than `rebuild_after`.
fn stale(rev: &Revision, rebuild_after: Option<Duration>, now: jiff::Timestamp) -> Option<String> {
    let limit = rebuild_after?;
    let created: jiff::Timestamp = rev.created_at.parse().ok()?;
    let age = now.duration_since(created);
    let age = Duration::try_from(age).ok()?;
    (age > limit).then(|| {
        humantime::format_duration(Duration::from_secs(age.as_secs() / 3600 * 3600)).to_string()
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
        fn cache(&self, sha256: &str) {
            let key = self.key();
            std::fs::create_dir_all(self.snapshots.dir()).unwrap();
            let path = self.snapshots.image_path(&key);
            std::fs::write(&path, b"snapshot").unwrap();
            let artifact = Artifact::file(path, sha256.to_owned(), 8, serde_json::Value::Null);
            self.snapshots
                .commit(&key, "image", &artifact, &serde_json::json!({}))
                .unwrap();
        }
    }

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

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
        let decision = world.assess(&world.stores(Some(SHA_A)));
        assert_eq!(decision.action, Action::Skip);
        assert_eq!(decision.present.len(), 2);
    }

    #[test]
    fn a_cached_snapshot_no_target_holds_is_uploaded_to_every_target() {
        let world = World::new();
        world.cache(SHA_A);
        let decision = world.assess(&world.stores(None));
        let all: Vec<TargetId> = world.fake.recipe.target_ids().collect();
        assert_eq!(decision.action, Action::Upload { targets: all });
    }

    #[test]
    fn a_cached_snapshot_every_target_holds_is_only_recorded() {
        let world = World::new();
        world.cache(SHA_A);
        let decision = world.assess(&world.stores(Some(SHA_A)));
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
        world.cache(SHA_B);
        let decision = world.assess(&world.stores(Some(SHA_A)));
        assert_eq!(decision.action, Action::Skip);
    }
}

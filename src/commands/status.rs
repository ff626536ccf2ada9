use crate::bases;
use crate::cli::{Error, Result};
use crate::freshness::{Action, AssessInput, Decision, SnapshotCache, assess};
use crate::model::{CellId, Recipe, Secrets};
use crate::plan::CellWork;
use crate::state::Layout;
use crate::step::CancelToken;
use crate::targets::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The snapshot cache of this machine.
pub(crate) fn snapshot_cache(layout: &Layout) -> SnapshotCache {
    SnapshotCache::new(layout.cache.join("snapshots"))
}

/// Resolve the checksum of every base the cells use (SHA256SUMS is read
/// again every time: that is how a moving upstream image is noticed) and
/// decide what each cell needs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn status(
    recipe: &Recipe,
    cells: &[CellId],
    stores: &[Box<dyn Store>],
    secrets: &Secrets,
    layout: &Layout,
    owner: &str,
    force: bool,
    cancel: &CancelToken,
) -> Result<(BTreeMap<String, String>, Vec<Decision>)> {
    let bases: BTreeSet<&str> = cells.iter().map(|&c| recipe.cells[c].base()).collect();
    let mut digests = BTreeMap::new();
    let cache_dir = layout.bases();
    let proxy = (!recipe.services.proxy.is_empty()).then_some(recipe.services.proxy.as_str());
    for name in bases {
        let base = &recipe.bases[name];
        let opts = bases::FetchOptions {
            cache_dir: &cache_dir,
            proxy,
            cancel,
            log: &|_| {},
            progress: &|_, _| {},
        };
        let mut attempt = 1;
        let digest = loop {
            match bases::expected_sha256(base, &opts) {
                Err(e) if e.is_transient() && attempt < 3 => {
                    std::thread::sleep(Duration::from_secs(2 * 4u64.pow(attempt - 1)));
                    attempt += 1;
                }
                other => {
                    break other.map_err(|e| {
                        Error::Failed(format!(
                            "failed to resolve the checksum of base `{name}`: {e}"
                        ))
                    })?;
                }
            }
        };
        digests.insert(name.to_owned(), digest);
    }
    let snapshots = snapshot_cache(layout);
    let decisions = assess(&AssessInput {
        recipe,
        cells,
        stores,
        snapshots: &snapshots,
        secrets,
        base_digests: &digests,
        owner,
        force,
        now: jiff::Timestamp::now(),
    })
    .map_err(|e| Error::Failed(e.to_string()))?;
    Ok((digests, decisions))
}

/// What listing the targets found wrong, as `warning: …` lines for the
/// user, each once.
pub(crate) fn warnings(decisions: &[Decision]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for warning in decisions.iter().flat_map(|d| &d.warnings) {
        let line = format!("warning: {warning}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// What to plan for each decision: boot only to build; upload to the
/// targets that lack the image; prune every target once the manifest is
/// recorded (nothing at all for a cell that is up to date).
pub(crate) fn work_for(recipe: &Recipe, decisions: &[Decision]) -> Vec<CellWork> {
    decisions
        .iter()
        .map(|d| CellWork {
            cell: d.cell,
            boot: matches!(d.action, Action::Build { .. }),
            targets: d.action.targets().to_vec(),
            prune: if d.action == Action::Skip {
                Vec::new()
            } else {
                recipe.target_ids().collect()
            },
        })
        .collect()
}

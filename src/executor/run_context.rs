use crate::backends::Backend;
use crate::freshness::{Decision, SnapshotCache};
use crate::model::{Cell, CellId, Recipe, Secrets};
use crate::state::Layout;
use crate::step::CancelToken;
use crate::targets::Store;
use camino::Utf8PathBuf;
use std::collections::{BTreeMap, HashMap};

/// Everything a job needs; shared read-only by the workers.
pub struct RunContext<'a, B: Backend> {
    pub recipe: &'a Recipe,
    pub secrets: &'a Secrets,
    pub layout: &'a Layout,
    pub backend: &'a B,
    /// Logs of this run: `<run_dir>/<image name>/<step>.log`, consoles.
    pub run_dir: Utf8PathBuf,
    /// Scratch files of this run, removed when it ends.
    pub work_dir: Utf8PathBuf,
    /// One store per recipe target, same order.
    pub stores: &'a [Box<dyn Store>],
    pub cancel: CancelToken,
    /// SHA-256 of the recipe file.
    pub recipe_hash: String,
    /// Ownership mark on every image: `pipeline:<recipe name>`.
    pub owner: String,
    /// This run's id (the run directory's name).
    pub run_id: String,
    /// What the run does with each planned cell.
    pub decisions: HashMap<CellId, Decision>,
    /// Base name → the SHA-256 it was verified against.
    pub base_digests: BTreeMap<String, String>,
    pub snapshots: SnapshotCache,
}

impl<B: Backend> RunContext<'_, B> {
    pub fn cell_log_dir(&self, cell: &Cell) -> Utf8PathBuf {
        self.run_dir.join(&cell.image_name)
    }

    pub fn cell_work_dir(&self, cell: &Cell) -> Utf8PathBuf {
        self.work_dir.join(&cell.image_name)
    }

    pub fn decision(&self, cell: CellId) -> &Decision {
        &self.decisions[&cell]
    }
}

/// The ownership mark of a recipe's images.
pub fn owner_of(recipe: &Recipe) -> String {
    format!("pipeline:{}", recipe.name)
}

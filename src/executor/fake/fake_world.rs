use super::{FakeBackend, FakeStore};
use crate::executor::RunContext;
use crate::freshness::{Action, Decision, InputKey, SnapshotCache};
use crate::model::{CellId, Recipe, Secrets};
use crate::plan::BackendSteps;
use crate::state::Layout;
use crate::step::CancelToken;
use crate::targets::Store;
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::HashMap;

/// What a run on the fake backend borrows, under a scratch directory: an
/// empty store per target of the recipe.
pub struct FakeWorld {
    pub scratch: Utf8PathBuf,
    pub secrets: Secrets,
    pub layout: Layout,
    pub backend: FakeBackend,
    pub stores: Vec<Box<dyn Store>>,
}

impl FakeWorld {
    pub fn new(recipe: &Recipe, steps: &'static BackendSteps, scratch: &Utf8Path) -> Self {
        Self {
            scratch: scratch.to_owned(),
            secrets: Secrets::default(),
            layout: Layout {
                cache: scratch.join("cache"),
                state: scratch.join("state"),
            },
            backend: FakeBackend::new(steps),
            stores: recipe
                .targets
                .iter()
                .map(|t| Box::new(FakeStore::empty(&t.name)) as Box<dyn Store>)
                .collect(),
        }
    }

    pub fn snapshots(&self) -> SnapshotCache {
        SnapshotCache::new(self.scratch.join("snapshots"))
    }

    /// A run of `recipe` doing `decisions`; its run directory exists.
    pub fn context<'a>(
        &'a self,
        recipe: &'a Recipe,
        decisions: HashMap<CellId, Decision>,
    ) -> RunContext<'a, FakeBackend> {
        let ctx = RunContext {
            recipe,
            secrets: &self.secrets,
            layout: &self.layout,
            backend: &self.backend,
            run_dir: self.scratch.join("run"),
            work_dir: self.scratch.join("work"),
            stores: &self.stores,
            cancel: CancelToken::new(),
            recipe_hash: String::new(),
            owner: "pipeline:fake".into(),
            run_id: "fake".into(),
            decisions,
            base_digests: Default::default(),
            snapshots: self.snapshots(),
        };
        std::fs::create_dir_all(&ctx.run_dir).expect("a scratch run directory");
        ctx
    }
}

/// `action` for `cell`, under an input key made of its index.
pub fn decision(cell: CellId, action: Action) -> Decision {
    Decision {
        cell,
        key: InputKey {
            key: format!("{cell:064}"),
            inputs: Default::default(),
        },
        action,
        reason: String::new(),
        present: Vec::new(),
        warnings: Vec::new(),
    }
}

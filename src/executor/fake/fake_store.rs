use super::revision;
use crate::output::Check;
use crate::step::{CancelToken, StepResult};
use crate::targets::{Artifact, ImageMeta, Listing, Revision, Store, StoreNeed};

/// A target that stores nothing, and lists the revisions it was given.
pub struct FakeStore {
    name: String,
    revisions: Vec<Revision>,
}

impl FakeStore {
    pub fn empty(name: &str) -> Self {
        Self::holding(name, Vec::new())
    }

    /// A target whose listing is `revisions`, newest first.
    pub fn holding(name: &str, revisions: Vec<Revision>) -> Self {
        Self {
            name: name.to_owned(),
            revisions,
        }
    }
}

impl Store for FakeStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn upload(
        &self,
        _: &Artifact,
        meta: &ImageMeta,
        _: &CancelToken,
        _: &dyn Fn(u64),
    ) -> StepResult<Revision> {
        Ok(revision(meta.clone()))
    }

    fn list(&self, _: &str, _: &str) -> StepResult<Listing> {
        Ok(Listing {
            revisions: self.revisions.clone(),
            ..Listing::default()
        })
    }

    fn delete(&self, _: &Revision) -> StepResult<()> {
        Ok(())
    }

    fn attach_manifest(&self, _: &Revision, _: &serde_json::Value) -> StepResult<()> {
        Ok(())
    }

    fn init(&self, _: &StoreNeed) -> Vec<Check> {
        Vec::new()
    }
}

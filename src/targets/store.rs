use super::{Artifact, ImageMeta, Listing, Revision};
use crate::output::Check;
use crate::step::CancelToken;
use crate::step::StepResult;

/// A place that keeps revisions of images: a local directory or a Glance.
/// Implementations must be atomic: a failed or interrupted upload leaves
/// nothing that `list` would count.
pub trait Store: Send + Sync {
    /// The target's name in the recipe.
    fn name(&self) -> &str;

    /// Store `artifact` as a new revision of `meta.name`, verifying its size
    /// and SHA-256 (and recording the SHA-256 when the artifact did not know
    /// it: the revision's `meta.sha256` is what arrived); `progress` gets
    /// the bytes sent so far.
    fn upload(
        &self,
        artifact: &Artifact,
        meta: &ImageMeta,
        cancel: &CancelToken,
        progress: &dyn Fn(u64),
    ) -> StepResult<Revision>;

    /// Make `artifact` a revision without copying it, when this target
    /// holds its bytes already (a target in the build cloud); `None` when
    /// it cannot, and the artifact is uploaded.
    fn adopt(&self, _artifact: &Artifact, _meta: &ImageMeta) -> Option<StepResult<Revision>> {
        None
    }

    /// The end of a run: clean up what an upload could not (partial images
    /// whose delete failed); what it says, for the user.
    fn finish(&self, _interrupted: bool) -> Vec<String> {
        Vec::new()
    }

    /// Remove what dead runs left of `name` (an upload's temp file); what
    /// it removed, for the user. Never touches what a live run is writing.
    fn clean_up(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }

    /// What `pipeline init` checks: the target can be reached and written,
    /// and has room for `need`. May create the store itself (a directory);
    /// nothing else.
    fn init(&self, need: &StoreNeed) -> Vec<Check>;

    /// Room for `uploads` new images of about `image_bytes` each, checked
    /// before a run boots anything: the shortfall, said with the numbers.
    /// A store without a local disk has nothing to check.
    fn room_for(&self, _uploads: usize, _image_bytes: u64) -> Option<String> {
        None
    }

    /// What the target holds of `name` for `owner`: the complete revisions
    /// (newest first), the damaged ones, and warnings about what could not
    /// be read. Never blocks on what it finds (a FIFO where a file should
    /// be); fails only when the target cannot be listed at all.
    fn list(&self, name: &str, owner: &str) -> StepResult<Listing>;

    /// Delete one revision (complete or damaged, as `list` returned it).
    /// Idempotent and resumable: a delete cut short leaves nothing that
    /// counts as a complete revision, and deleting again finishes it.
    fn delete(&self, revision: &Revision) -> StepResult<()>;

    /// Keep the build's provenance manifest with a revision this run made
    /// (directory: `<n>.manifest.json` beside the image).
    fn attach_manifest(&self, revision: &Revision, manifest: &serde_json::Value) -> StepResult<()>;
}

/// What a recipe will keep on a target.
#[derive(Debug, Clone)]
pub struct StoreNeed {
    /// The owner mark of the recipe's images.
    pub owner: String,
    /// Image names of the recipe's cells.
    pub images: Vec<String>,
    /// Revisions kept of each, plus the one being uploaded before a prune.
    pub keep: u32,
    /// About how many bytes one image takes (the largest base's file).
    pub image_bytes: u64,
}

impl StoreNeed {
    /// Images the target holds at most: `keep + 1` of every cell.
    pub fn count(&self) -> u64 {
        self.images.len() as u64 * (u64::from(self.keep) + 1)
    }

    /// About how many bytes the target holds at most: [`StoreNeed::count`]
    /// images of `image_bytes` each, rounded to the MiB first, so that the
    /// sizes [`StoreNeed::describe`] gives multiply out.
    pub fn bytes(&self) -> u64 {
        self.count() * (self.image_bytes.div_ceil(1 << 20) << 20)
    }

    /// "6 images (2 cells × 3 revisions: keep 2, and 1 being uploaded) of
    /// about 140 MiB take about 840 MiB": what is counted, adding up.
    pub fn describe(&self) -> String {
        let cells = self.images.len();
        format!(
            "{} image{} ({cells} cell{} × {} revisions: keep {}, and 1 being uploaded) \
             of about {} take about {}",
            self.count(),
            if self.count() == 1 { "" } else { "s" },
            if cells == 1 { "" } else { "s" },
            self.keep + 1,
            self.keep,
            in_mib(self.image_bytes.div_ceil(1 << 20) << 20),
            in_mib(self.bytes()),
        )
    }
}

/// `140 MiB`; `2160 MiB (2.1 GiB)` from a GiB on: in one unit, so that the
/// sizes multiply out where they are shown together.
fn in_mib(bytes: u64) -> String {
    if bytes < 1 << 30 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!(
            "{} MiB ({:.1} GiB)",
            bytes >> 20,
            bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// A revision a prune removes, and whether it goes because it is damaged
/// (what is wrong with it) or because it is beyond `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doomed<'l> {
    pub revision: &'l Revision,
    pub damaged: Option<&'l str>,
}

/// What a prune removes from a listing: the complete revisions after the
/// `keep` newest ([`prunable`]), then every damaged one (it never counts
/// towards `keep`); never `protect` (the revision this run just made).
pub fn doomed<'l>(listing: &'l Listing, keep: usize, protect: Option<&str>) -> Vec<Doomed<'l>> {
    let old = prunable(&listing.revisions, keep, protect)
        .into_iter()
        .map(|revision| Doomed {
            revision,
            damaged: None,
        });
    let damaged = listing
        .damaged
        .iter()
        .filter(|d| Some(d.revision.id.as_str()) != protect)
        .map(|d| Doomed {
            revision: &d.revision,
            damaged: Some(d.problem.as_str()),
        });
    old.chain(damaged).collect()
}

/// Which complete revisions a prune removes: everything after the `keep`
/// newest, but never `protect` (the revision this run just made).
/// `revisions` is newest first, as [`Listing::revisions`] is.
pub fn prunable<'r>(
    revisions: &'r [Revision],
    keep: usize,
    protect: Option<&str>,
) -> Vec<&'r Revision> {
    revisions
        .iter()
        .skip(keep)
        .filter(|r| Some(r.id.as_str()) != protect)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::targets::Damaged;

    fn rev(id: &str) -> Revision {
        Revision::for_test(id, None, "")
    }

    /// The sizes init shows multiply out, and say what is counted.
    #[test]
    fn a_need_adds_up() {
        let need = StoreNeed {
            owner: "pipeline:demo".into(),
            images: vec!["a".into(), "b".into()],
            keep: 2,
            image_bytes: (140 << 20) + 400_000,
        };
        assert_eq!(
            need.describe(),
            "6 images (2 cells × 3 revisions: keep 2, and 1 being uploaded) \
             of about 141 MiB take about 846 MiB"
        );
        assert_eq!(need.bytes(), 6 * (141 << 20));
        let need = StoreNeed {
            keep: 3,
            images: vec!["a".into(); 4],
            ..need
        };
        assert!(
            need.describe()
                .ends_with("of about 141 MiB take about 2256 MiB (2.2 GiB)"),
            "{}",
            need.describe()
        );
    }

    #[test]
    fn keeps_the_newest_and_never_the_protected_one() {
        let revs: Vec<Revision> = ["5", "4", "3", "2", "1"].into_iter().map(rev).collect();
        let ids = |v: Vec<&Revision>| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(prunable(&revs, 2, Some("5"))), ["3", "2", "1"]);
        assert_eq!(ids(prunable(&revs, 5, None)), Vec::<String>::new());
        // A protected revision outside the newest `keep` survives too.
        assert_eq!(ids(prunable(&revs, 2, Some("1"))), ["3", "2"]);
    }

    #[test]
    fn damaged_revisions_are_doomed_whatever_keep_says_but_never_the_protected_one() {
        let listing = Listing {
            revisions: ["5", "3", "2"].into_iter().map(rev).collect(),
            damaged: ["4", "1"]
                .into_iter()
                .map(|id| Damaged {
                    revision: rev(id),
                    problem: format!("{id} is short"),
                })
                .collect(),
            warnings: Vec::new(),
        };
        let shown = |v: Vec<Doomed>| {
            v.iter()
                .map(|d| format!("{}{}", d.revision.id, d.damaged.map_or("", |_| "!")))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(doomed(&listing, 2, None)), ["2", "4!", "1!"]);
        assert_eq!(shown(doomed(&listing, 5, Some("4"))), ["1!"]);
        assert_eq!(doomed(&listing, 2, None)[1].damaged, Some("4 is short"));
        assert!(doomed(&Listing::default(), 2, None).is_empty());
    }
}

use crate::cancel::CancelToken;
use crate::host::accel::AccelChoice;
use crate::layout::Layout;
use crate::model::{Cell, Recipe, Secrets};
use crate::targets::Store;
use camino::Utf8PathBuf;

/// Everything a worker needs to perform a step; shared read-only.
pub struct RunContext<'a> {
    pub recipe: &'a Recipe,
    pub secrets: &'a Secrets,
    pub layout: &'a Layout,
    /// Logs of this run: `<run_dir>/<image name>/<step>.log`, consoles.
    pub run_dir: Utf8PathBuf,
    /// Scratch files of this run, removed when it ends.
    pub work_dir: Utf8PathBuf,
    /// One store per recipe target, same order.
    pub stores: Vec<Box<dyn Store>>,
    pub cancel: CancelToken,
    /// SHA-256 of the recipe file.
    pub recipe_hash: String,
    /// Ownership mark on every image: `pipeline:<recipe name>`.
    pub owner: String,
    /// The accelerator for boots (probed before the first boot starts).
    pub accel: AccelChoice,
}

impl RunContext<'_> {
    pub fn cell_log_dir(&self, cell: &Cell) -> Utf8PathBuf {
        self.run_dir.join(&cell.image_name)
    }

    pub fn cell_work_dir(&self, cell: &Cell) -> Utf8PathBuf {
        self.work_dir.join(&cell.image_name)
    }
}

/// The ownership mark of a recipe's images.
pub fn owner_of(recipe: &Recipe) -> String {
    format!("pipeline:{}", recipe.name)
}

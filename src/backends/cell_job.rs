use crate::guest::UserData;
use crate::model::{Cell, Recipe, Secrets};
use crate::step::CancelToken;
use camino::Utf8Path;

/// What a backend step gets to work on one cell.
pub struct CellJob<'a> {
    pub recipe: &'a Recipe,
    pub cell: &'a Cell,
    /// The cell's user-data and the nonce its result lines carry.
    pub user_data: &'a UserData,
    pub secrets: &'a Secrets,
    /// The cell's logs and console, kept in the run directory.
    pub logs: &'a Utf8Path,
    /// The cell's scratch files, removed when the run ends.
    pub work: &'a Utf8Path,
    /// Where an exported local snapshot goes: the snapshot cache's entry for
    /// the cell's input key (so a run that fails later resumes from it).
    pub snapshot_path: &'a Utf8Path,
    pub cancel: &'a CancelToken,
    /// A line for the progress output and the run log.
    pub notify: &'a (dyn Fn(String) + Sync),
    /// Bytes done and, when known, the total.
    pub bytes: &'a (dyn Fn(u64, Option<u64>) + Sync),
}

/// What a backend step gets to prepare one base.
pub struct BaseJob<'a> {
    pub recipe: &'a Recipe,
    /// The base's name in the recipe.
    pub name: &'a str,
    /// The step's log.
    pub log: &'a Utf8Path,
    pub cancel: &'a CancelToken,
    pub notify: &'a (dyn Fn(String) + Sync),
    pub bytes: &'a (dyn Fn(u64, Option<u64>) + Sync),
}

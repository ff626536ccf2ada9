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
    /// The guest console's last line, each time it changes.
    pub console_line: &'a (dyn Fn(String) + Sync),
}

impl CellJob<'_> {
    /// How a boot of this cell is watched: for `purpose`, with `nonce`,
    /// within `timeout`, its console logged at `console_log`.
    pub fn watch<'w>(
        &'w self,
        purpose: crate::guest::Purpose,
        nonce: &'w str,
        timeout: std::time::Duration,
        console_log: &'w camino::Utf8Path,
    ) -> super::guest_boot::Watch<'w> {
        super::guest_boot::Watch {
            purpose,
            nonce,
            timeout,
            console_log,
            cancel: self.cancel,
            notify: self.notify,
            console_line: self.console_line,
        }
    }
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

use super::{load, open_stores};
use crate::cli::PruneArgs;
use crate::cli::{Error, Result};
use crate::executor::owner_of;
use crate::state::{Layout, run_lock, work_lease};
use crate::step::CancelToken;
use crate::targets::doomed;

/// Delete, on every target, the revisions beyond its `keep` and every
/// damaged one of ours, holding the recipe's run lock. A failure (a
/// listing, a delete) does not stop the others: each is reported at the
/// end, and the exit code says so.
pub fn prune(args: &PruneArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    let layout = Layout::from_env();
    // A dry run records nothing, but refuses what a prune would.
    crate::state::name_claim::claim(&layout, &recipe, !args.dry_run)?;
    let stores = open_stores(&recipe)?;
    // Not while a run uploads or records what a prune would weigh; a dry
    // run only reads, and takes no lock.
    let _lock = if args.dry_run {
        None
    } else {
        Some(run_lock::take(&layout, &recipe, args.wait)?)
    };
    if !args.dry_run {
        // What dead runs left: their scratch folders, their uploads' temp
        // files.
        for line in work_lease::clean_abandoned(&layout) {
            crate::errln!("{line}");
        }
        for &c in &cells {
            for store in &stores {
                for line in store.clean_up(&recipe.cells[c].image_name) {
                    crate::errln!("{line}");
                }
            }
        }
    }
    let owner = owner_of(&recipe);
    let cancel = CancelToken::new();
    let mut count = 0;
    let mut failures: Vec<String> = Vec::new();
    let mut unlisted: Vec<(&str, String)> = Vec::new();
    for &c in &cells {
        let cell = &recipe.cells[c];
        for (target, store) in recipe.targets.iter().zip(&stores) {
            let listing = match store.list(&cell.image_name, &owner) {
                Ok(listing) => listing,
                // A store that is not there fails every cell alike: once.
                Err(e) if unlisted.contains(&(target.name.as_str(), e.message.clone())) => continue,
                Err(e) => {
                    failures.push(format!(
                        "{} {}: failed to list images: {e}",
                        target.name, cell.image_name
                    ));
                    unlisted.push((target.name.as_str(), e.message));
                    continue;
                }
            };
            for warning in &listing.warnings {
                crate::errln!("warning: {warning}");
            }
            for doomed in doomed(&listing, target.keep as usize, None) {
                cancel.check().map_err(|_| Error::interrupted(&cancel))?;
                let revision = doomed.revision;
                let about = match doomed.damaged {
                    Some(problem) => format!(
                        "{} {} (created {}; damaged: {problem})",
                        target.name, revision.id, revision.created_at
                    ),
                    None => format!(
                        "{} {} (created {})",
                        target.name, revision.id, revision.created_at
                    ),
                };
                if args.dry_run {
                    crate::outln!("would delete {about}");
                    count += 1;
                    continue;
                }
                match store.delete(revision) {
                    Ok(()) => {
                        crate::outln!("deleted {about}");
                        count += 1;
                    }
                    Err(e) => failures.push(format!("{} {}: {e}", target.name, revision.id)),
                }
            }
        }
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let done = format!(
        "{verb} {count} revision{}",
        if count == 1 { "" } else { "s" }
    );
    if failures.is_empty() {
        crate::errln!("{done}");
        return Ok(());
    }
    Err(Error::Failed(format!(
        "{done}; {} failure{}:\n  {}",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
        failures.join("\n  ")
    )))
}

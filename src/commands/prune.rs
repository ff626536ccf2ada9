use super::{load, open_stores};
use crate::cancel::CancelToken;
use crate::cli::PruneArgs;
use crate::error::{Error, Result};
use crate::executor::owner_of;
use crate::layout::Layout;
use crate::targets::prunable;

pub fn prune(args: &PruneArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    // A dry run records nothing, but refuses what a prune would.
    crate::name_claim::claim(&Layout::from_env(), &recipe, !args.dry_run)?;
    let stores = open_stores(&recipe)?;
    let owner = owner_of(&recipe);
    let cancel = CancelToken::new();
    let mut count = 0;
    for &c in &cells {
        let cell = &recipe.cells[c];
        for (target, store) in recipe.targets.iter().zip(&stores) {
            let revisions = store.revisions(&cell.image_name, &owner).map_err(|e| {
                Error::Failed(format!(
                    "failed to list images on target `{}`: {e}",
                    target.name
                ))
            })?;
            for revision in prunable(&revisions, target.keep as usize, None) {
                cancel.check().map_err(|_| Error::Interrupted)?;
                if args.dry_run {
                    println!(
                        "would delete {} {} (created {})",
                        target.name, revision.id, revision.created_at
                    );
                } else {
                    store.delete(revision).map_err(|e| {
                        Error::Failed(format!(
                            "failed to delete {} from `{}`: {e}",
                            revision.id, target.name
                        ))
                    })?;
                    println!(
                        "deleted {} {} (created {})",
                        target.name, revision.id, revision.created_at
                    );
                }
                count += 1;
            }
        }
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    eprintln!(
        "{verb} {count} revision{}",
        if count == 1 { "" } else { "s" }
    );
    Ok(())
}

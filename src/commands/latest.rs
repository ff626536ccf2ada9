use super::{load, open_stores};
use crate::cli::LatestArgs;
use crate::cli::{Error, Result};
use crate::executor::owner_of;
use crate::plan::report::table;
use serde_json::json;

pub fn latest(args: &LatestArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    let stores = open_stores(&recipe)?;
    let owner = owner_of(&recipe);
    let mut found = Vec::new();
    for &c in &cells {
        let cell = &recipe.cells[c];
        let mut per_target = Vec::new();
        for store in &stores {
            let listing = store.list(&cell.image_name, &owner).map_err(|e| {
                Error::Failed(format!(
                    "failed to list images on target `{}`: {e}",
                    store.name()
                ))
            })?;
            for warning in &listing.warnings {
                crate::errln!("warning: {warning}");
            }
            // Damaged revisions are not images the target holds.
            let newest = listing.revisions.into_iter().next();
            per_target.push((store.name().to_owned(), newest));
        }
        found.push((c, per_target));
    }
    if args.json {
        let list: Vec<serde_json::Value> = found
            .iter()
            .map(|(c, per_target)| {
                let cell = &recipe.cells[*c];
                let images: serde_json::Map<String, serde_json::Value> = per_target
                    .iter()
                    .map(|(t, r)| (t.clone(), json!(r.as_ref().map(|r| &r.id))))
                    .collect();
                json!({
                    "image_name": cell.image_name,
                    "base": cell.base(),
                    "arch": recipe.image.arch,
                    "values": cell,
                    "images": images,
                })
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&list).expect("JSON serializes")
        );
        return Ok(());
    }
    let mut rows = vec![vec![
        "TARGET".to_owned(),
        "IMAGE NAME".to_owned(),
        "IMAGE ID".to_owned(),
        "CREATED".to_owned(),
    ]];
    for (c, per_target) in &found {
        for (target, revision) in per_target {
            rows.push(vec![
                target.clone(),
                recipe.cells[*c].image_name.clone(),
                revision.as_ref().map_or("-".to_owned(), |r| r.id.clone()),
                revision
                    .as_ref()
                    .map_or("-".to_owned(), |r| r.created_at.clone()),
            ]);
        }
    }
    crate::out!("{}", table(&rows, ""));
    Ok(())
}

//! One function per verb. Each loads what it needs, does the work through
//! the layers below, and prints its result.

mod init;
mod latest;
mod plan;
mod prune;
mod render;
mod run;
mod run_summary;
mod schedule;
mod schema;
mod status;
mod validate;

pub use init::init;
pub use latest::latest;
pub use plan::plan;
pub use prune::prune;
pub use render::render;
pub use run::run;
pub use schedule::schedule;
pub use schema::schema;
pub use validate::validate;

use crate::cli::Selection;
use crate::cli::{Error, Result};
use crate::model::{CellFilter, CellId, Recipe};

/// Load and validate the recipe, then apply `--only`.
pub(crate) fn load(selection: &Selection) -> Result<(Recipe, Vec<CellId>)> {
    let filter = CellFilter::parse(&selection.only).map_err(|e| Error::Usage(e.to_string()))?;
    let recipe = crate::loader::load(&selection.recipe)?;
    let cells = filter
        .select(&recipe)
        .map_err(|e| Error::Usage(e.to_string()))?;
    Ok((recipe, cells))
}

/// The store behind every target of the recipe, in recipe order.
pub(crate) fn open_stores(recipe: &Recipe) -> Result<Vec<Box<dyn crate::targets::Store>>> {
    crate::targets::open_all(&recipe.targets).map_err(|e| Error::Usage(e.to_string()))
}

/// TARGET, IMAGE ID, IMAGE NAME, then every axis: one row per (cell, target, id).
pub(crate) fn result_table(recipe: &Recipe, rows: &[(CellId, String, String)]) -> String {
    let axes: Vec<&str> = recipe.matrix.axis_names().collect();
    let mut table = vec![{
        let mut h = vec![
            "TARGET".to_owned(),
            "IMAGE ID".to_owned(),
            "IMAGE NAME".to_owned(),
        ];
        h.extend(axes.iter().map(|a| a.to_uppercase()));
        h.insert(4, "ARCH".to_owned());
        h
    }];
    for (c, target, id) in rows {
        let cell = &recipe.cells[*c];
        let mut row = vec![target.clone(), id.clone(), cell.image_name.clone()];
        row.extend(cell.values().map(|(_, v)| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.to_owned()
            }
        }));
        row.insert(4, recipe.image.arch.to_string());
        table.push(row);
    }
    crate::plan::report::table(&table, "")
}

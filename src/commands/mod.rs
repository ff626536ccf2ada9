//! One function per verb. Each loads what it needs, does the work through
//! the layers below, and prints its result.

mod plan;
mod render;
mod schema;
mod validate;

pub use plan::plan;
pub use render::render;
pub use schema::schema;
pub use validate::validate;

use crate::cli::Selection;
use crate::error::{Error, Result};
use crate::model::{CellFilter, Recipe};

/// Load and validate the recipe, then apply `--only`.
pub(crate) fn load(selection: &Selection) -> Result<(Recipe, Vec<usize>)> {
    let filter = CellFilter::parse(&selection.only).map_err(Error::Usage)?;
    let recipe = Recipe::load(&selection.recipe)?;
    let cells = filter.select(&recipe).map_err(Error::Usage)?;
    Ok((recipe, cells))
}

use super::load;
use crate::cli::Selection;
use crate::error::{Error, Result};

pub fn render(selection: &Selection) -> Result<()> {
    let (recipe, cells) = load(selection)?;
    if cells.len() != 1 {
        let names: Vec<&str> = cells
            .iter()
            .take(5)
            .map(|&c| recipe.cells[c].image_name.as_str())
            .collect();
        return Err(Error::Usage(format!(
            "render needs exactly one cell, but {} match (e.g. {}); narrow it with --only name=IMAGE",
            cells.len(),
            names.join(", ")
        )));
    }
    let secrets = crate::loader::secrets().map_err(Error::Usage)?;
    let script = recipe.render(&recipe.cells[cells[0]], &secrets.names())?;
    print!("{script}");
    Ok(())
}

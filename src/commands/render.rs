use super::load;
use crate::cli::RenderArgs;
use crate::cli::{Error, Result};

pub fn render(args: &RenderArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
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
    let cell = &recipe.cells[cells[0]];
    let script = if args.verify {
        recipe
            .render_verify(cell, &secrets.names())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{} has no [verify] section: there is no verify script to render",
                    recipe.file.path
                ))
            })??
    } else {
        recipe.render(cell, &secrets.names())?
    };
    crate::out!("{script}");
    Ok(())
}

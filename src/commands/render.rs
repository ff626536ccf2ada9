use super::load;
use crate::cli::RenderArgs;
use crate::cli::{Error, Result};

pub fn render(args: &RenderArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    if cells.len() != 1 {
        return Err(Error::Usage(several_cells(&recipe, &cells)));
    }
    // What validate refuses, render does not print: a name that is read
    // only on a branch this cell does not take would not show otherwise.
    let (problems, _, _) = recipe.check_names();
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let secrets = crate::loader::secrets().map_err(|e| Error::Usage(e.to_string()))?;
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

/// Which cells match (the first ten), and the `--only` that picks one: its
/// name, or an axis that sets it apart.
fn several_cells(recipe: &crate::model::Recipe, cells: &[crate::model::CellId]) -> String {
    const SHOWN: usize = 10;
    let mut lines = vec![format!(
        "render needs exactly one cell, but {} match:",
        cells.len()
    )];
    for &c in cells.iter().take(SHOWN) {
        let cell = &recipe.cells[c];
        lines.push(format!("  {} ({})", cell.image_name, cell.describe()));
    }
    if cells.len() > SHOWN {
        lines.push(format!("  and {} more", cells.len() - SHOWN));
    }
    let first = &recipe.cells[cells[0]];
    // An axis whose value in the first cell no other matching cell has.
    let apart = first.values().find(|(axis, value)| {
        cells[1..]
            .iter()
            .all(|&c| recipe.cells[c].get(axis) != Some(value))
    });
    let mut pick = format!("pick one with `--only name={}`", first.image_name);
    if let Some((axis, value)) = apart {
        pick.push_str(&format!(" or `--only {axis}={value}`"));
    }
    lines.push(pick);
    lines.join("\n")
}

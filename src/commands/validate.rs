use super::load;
use crate::cli::Selection;
use crate::cli::{Error, Result};
use std::io::IsTerminal;

pub fn validate(selection: &Selection) -> Result<()> {
    let (recipe, cells) = load(selection)?;
    let secrets = crate::loader::secrets().map_err(|e| Error::Usage(e.to_string()))?;
    crate::backends::check_secrets(&recipe, &secrets).map_err(|e| Error::Usage(e.to_string()))?;
    let names = secrets.names();
    let problems = recipe.check_templates(&names);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    // Styled as the errors are (see `report` in lib.rs).
    let renderer = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        annotate_snippets::Renderer::styled()
    } else {
        annotate_snippets::Renderer::plain()
    };
    for warning in &recipe.warnings {
        crate::errln!("{}\n", warning.render(&renderer));
    }
    crate::outln!(
        "{} is valid: {} cell{}, {} target{}",
        recipe.file.path,
        cells.len(),
        if cells.len() == 1 { "" } else { "s" },
        recipe.targets.len(),
        if recipe.targets.len() == 1 { "" } else { "s" },
    );
    Ok(())
}

//! One recipe file per name: a recipe's name is the owner mark of its
//! images (`pipeline:<name>`), so two recipes with one name (`prod/runner.toml`
//! and `staging/runner.toml`) would prune each other's images in a shared
//! cloud. The first `run` or `prune` of a name records, in the state
//! directory, the recipe file that owns it (`recipes/<name>.path`); a
//! different file with that name is refused from then on.

use crate::cli::{Error, Result};
use crate::files::TempFile;
use crate::model::Recipe;
use crate::state::{Layout, ensure_dir};
use camino::{Utf8Path, Utf8PathBuf};

/// The recipe's file, absolute with every symlink resolved (as `schedule`
/// records it), so that two spellings of one file are one recipe.
pub fn canonical_path(recipe: &Recipe) -> Utf8PathBuf {
    recipe.file.path.canonicalize_utf8().unwrap_or_else(|_| {
        recipe
            .dir
            .join(recipe.file.path.file_name().unwrap_or("recipe.toml"))
    })
}

/// Where the owner of `name` is recorded.
pub fn claim_path(layout: &Layout, name: &str) -> Utf8PathBuf {
    layout.recipes().join(format!("{name}.path"))
}

/// A name the advice can suggest for `recipe` (at `path`): its folder's
/// name before its own, `staging-runner` for `staging/runner.toml`.
pub fn suggested_name(path: &Utf8Path, name: &str) -> String {
    let folder = path
        .parent()
        .and_then(Utf8Path::file_name)
        .filter(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
        .unwrap_or("other");
    format!("{folder}-{name}")
}

/// Check that `recipe`'s name is its own on this machine, and with
/// `record`, claim it if nobody has: refused (exit code 2) when another
/// recipe file owns the name.
pub fn claim(layout: &Layout, recipe: &Recipe, record: bool) -> Result<()> {
    let ours = canonical_path(recipe);
    let path = claim_path(layout, &recipe.name);
    if let Some(owner) = read(&path)? {
        return check(recipe, &ours, &owner, &path);
    }
    if !record {
        return Ok(());
    }
    ensure_dir(&layout.recipes()).map_err(|e| Error::Failed(e.to_string()))?;
    // Written aside, then linked into place: a link never replaces a file,
    // so of two first runs at once exactly one claims the name, and nobody
    // ever reads a half-written path.
    let tmp = layout.recipes().join(format!(
        ".{}.path.{}.tmp",
        recipe.name,
        uuid::Uuid::new_v4().simple()
    ));
    let mut file = TempFile::create(&tmp).map_err(|e| Error::Failed(e.message))?;
    file.write_all(format!("{ours}\n").as_bytes())
        .and_then(|()| file.sync())
        .map_err(|e| Error::Failed(e.message))?;
    match std::fs::hard_link(&tmp, &path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let owner = read(&path)?.unwrap_or_default();
            check(recipe, &ours, &owner, &path)
        }
        Err(e) => Err(Error::Failed(format!(
            "failed to record the owner of the name `{}` in {path}: {e}",
            recipe.name
        ))),
    }
}

/// The recipe file recorded in a claim, if there is one.
fn read(path: &Utf8Path) -> Result<Option<Utf8PathBuf>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim_end_matches('\n').into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Failed(format!("failed to read {path}: {e}"))),
    }
}

fn check(recipe: &Recipe, ours: &Utf8Path, owner: &Utf8Path, claim: &Utf8Path) -> Result<()> {
    if owner == ours {
        return Ok(());
    }
    let name = &recipe.name;
    // A recipe that moved leaves its claim behind: say how to hand it over.
    let moved = if owner.exists() {
        String::new()
    } else {
        format!(" (if {owner} was moved to {ours}, remove {claim} to hand the name over)")
    };
    Err(Error::Usage(format!(
        "the name `{name}` belongs to {owner} on this machine, and {ours} has the same name: the images of both would carry the owner mark `pipeline:{name}`, and each recipe's prune would delete the other's; give one of the two recipes its own name: put `name = \"{}\"` at the top of {ours}{moved}",
        suggested_name(ours, name)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_names() {
        assert_eq!(
            suggested_name("/srv/staging/runner.toml".into(), "runner"),
            "staging-runner"
        );
        assert_eq!(
            suggested_name("/srv/my stuff/runner.toml".into(), "runner"),
            "other-runner"
        );
        assert_eq!(
            suggested_name("/runner.toml".into(), "runner"),
            "other-runner"
        );
    }
}

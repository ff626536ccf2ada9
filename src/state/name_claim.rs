//! One recipe file per name: a recipe's name is the owner mark of its
//! images (`pipeline:<name>`), so two recipes with one name (`prod/runner.toml`
//! and `staging/runner.toml`) would prune each other's images in a shared
//! cloud. The first `run` or `prune` of a name records, in the state
//! directory, the recipe file that owns it (`recipes/<name>.path`); a
//! different recipe with that name is refused from then on. Identity
//! follows a checkout: a file with the same content as the recorded one (a
//! second clone, a CI workspace like `job@2`) is the same recipe, and when
//! the recorded file no longer exists (moved, re-cloned) the name is handed
//! to the file that asks, with one line said.

use crate::cli::{Error, Result};
use crate::files::{MAX_TEXT_BYTES, RegularFile, TempFile};
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
        return check(layout, recipe, &ours, &owner, record);
    }
    if !record {
        return Ok(());
    }
    // Linked into place: a link never replaces a file, so of two first
    // runs at once exactly one claims the name.
    let tmp = write_aside(layout, recipe, &ours)?;
    match std::fs::hard_link(tmp.path(), &path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let owner = read(&path)?.unwrap_or_default();
            check(layout, recipe, &ours, &owner, record)
        }
        Err(e) => Err(Error::Failed(format!(
            "failed to record the owner of the name `{}` in {path}: {e}",
            recipe.name
        ))),
    }
}

/// A claim of `ours`, written aside in the claims' directory (removed when
/// dropped): nobody ever reads a half-written path.
fn write_aside(layout: &Layout, recipe: &Recipe, ours: &Utf8Path) -> Result<TempFile> {
    ensure_dir(&layout.recipes()).map_err(|e| Error::Failed(e.to_string()))?;
    let tmp = layout.recipes().join(format!(
        ".{}.path.{}.tmp",
        recipe.name,
        uuid::Uuid::new_v4().simple()
    ));
    let mut file = TempFile::create(&tmp).map_err(|e| Error::Failed(e.message))?;
    file.write_all(format!("{ours}\n").as_bytes())
        .and_then(|()| file.sync())
        .map_err(|e| Error::Failed(e.message))?;
    Ok(file)
}

/// The recipe file recorded in a claim, if there is one.
fn read(path: &Utf8Path) -> Result<Option<Utf8PathBuf>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim_end_matches('\n').into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Failed(format!("failed to read {path}: {e}"))),
    }
}

/// Whether `ours` may use the name recorded for `owner`.
fn check(
    layout: &Layout,
    recipe: &Recipe,
    ours: &Utf8Path,
    owner: &Utf8Path,
    record: bool,
) -> Result<()> {
    if owner == ours {
        return Ok(());
    }
    let name = &recipe.name;
    match RegularFile::read_text(owner.as_std_path(), MAX_TEXT_BYTES) {
        // Another checkout of the same recipe.
        Ok(text) if text == recipe.file.text => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Moved or re-cloned: the old file can no longer use the name.
            if record {
                hand_over(layout, recipe, ours)?;
                crate::errln!(
                    "note: the name `{name}` was recorded for {owner}, which no longer exists; it now belongs to {ours}"
                );
            } else {
                crate::errln!(
                    "note: the name `{name}` is recorded for {owner}, which no longer exists; the first run of {ours} takes it over"
                );
            }
            return Ok(());
        }
        // Unreadable: it may still be a recipe of its own, so not ours.
        Err(_) => {}
    }
    Err(Error::Usage(format!(
        "the name `{name}` belongs to {owner} on this machine, and {ours} has the same name but other content: the images of both would carry the owner mark `pipeline:{name}`, and each recipe's prune would delete the other's; give one of the two recipes its own name: put `name = \"{}\"` at the top of {ours}",
        suggested_name(ours, name)
    )))
}

/// Record `ours` as the owner in place of a file that no longer exists.
fn hand_over(layout: &Layout, recipe: &Recipe, ours: &Utf8Path) -> Result<()> {
    write_aside(layout, recipe, ours)?
        .persist(claim_path(layout, &recipe.name))
        .map(drop)
        .map_err(|e| Error::Failed(e.message))
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

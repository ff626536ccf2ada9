//! The loader: reads what a recipe is made of (its file, its template, the
//! `PIPELINE_SECRET_*` environment) and hands it to the model, which
//! validates it without touching the file system or the environment.

use crate::files::{MAX_TEXT_BYTES, RegularFile};
use crate::files::{SourceFile, io_message};
use crate::model::{Recipe, RecipeInput, SECRET_PREFIX, SecretError, Secrets, validate};
use crate::output::{Diagnostic, Diagnostics};
use crate::output::{MIN_LEN, Scrubber};
use crate::recipe;
use camino::{Utf8Path, Utf8PathBuf};
use std::sync::Arc;

/// Read, parse and validate a recipe file, reporting every problem found.
pub fn load(path: &Utf8Path) -> Result<Recipe, Diagnostics> {
    let file = SourceFile::read(path).map_err(|e| {
        Diagnostic::new(format!(
            "failed to read recipe `{path}`: {}",
            io_message(&e)
        ))
    })?;
    let file = Arc::new(file);
    let raw = recipe::parse(&file)?;
    let dir = absolute_dir(path);
    let written = &raw.image.value.template.value;
    let read_template = |written: &str| {
        SourceFile::read(&dir.join(written))
            .map(|t| Arc::new(SourceFile::new(display_path(path, written), t.text)))
    };
    let template = read_template(written);
    let verify_template = raw
        .verify
        .as_ref()
        .map(|v| read_template(&v.value.template.value));
    let real_paths = raw
        .targets
        .iter()
        .filter_map(|t| t.value.path.as_ref())
        .map(|p| (p.value.clone(), real_path(&dir.join(&p.value))))
        .collect();
    validate(RecipeInput {
        file,
        dir,
        raw,
        template,
        verify_template,
        real_paths,
    })
}

/// `path` with links resolved as far as it exists, and the rest folded
/// (`.` dropped, `..` taking a part off): a directory target may not have
/// been made yet.
fn real_path(path: &Utf8Path) -> Utf8PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    let mut real = loop {
        if let Ok(real) = existing.canonicalize_utf8() {
            break real;
        }
        match existing.parent() {
            Some(parent) => {
                rest.push(existing.components().next_back());
                existing = parent;
            }
            None => break existing.to_owned(),
        }
    };
    for part in rest.into_iter().rev().flatten() {
        match part {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir => {
                real.pop();
            }
            other => real.push(other),
        }
    }
    real
}

/// Every environment variable `PIPELINE_SECRET_<NAME>`. A value of 1 to 3
/// bytes is refused: too short to scrub from messages without mangling
/// them (see [`crate::scrubber`]).
pub fn secrets() -> Result<Secrets, SecretError> {
    register_secrets();
    let secrets = Secrets::from_vars(secret_vars())?;
    let short = secrets
        .iter()
        .find(|s| !s.value().is_empty() && s.value().len() < MIN_LEN)
        .map(|s| s.env_name());
    match short {
        Some(var) => Err(SecretError::TooShort { var, min: MIN_LEN }),
        None => Ok(secrets),
    }
}

/// Tell the scrubber every `PIPELINE_SECRET_*` value now in the
/// environment, whatever its name (one with a bad name is refused later,
/// but must not be printed meanwhile).
pub fn register_secrets() {
    for (_, value) in secret_vars() {
        Scrubber::global().register(&value);
    }
}

fn secret_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| {
        let k = k.into_string().ok()?;
        k.starts_with(SECRET_PREFIX)
            .then(|| (k, v.to_string_lossy().into_owned()))
    })
}

/// The variables of an env file: `NAME=value` lines, the value taken
/// literally to the end of the line (no quotes, escapes or `$`: nothing a
/// shell or systemd would interpret), `#` comments and blank lines skipped.
/// A name is letters, digits and `_`, not starting with a digit. The error
/// names the file and line.
pub fn env_file(path: &Utf8Path) -> Result<Vec<(String, String)>, EnvFileError> {
    let text = RegularFile::read_text(path.as_std_path(), MAX_TEXT_BYTES).map_err(|e| {
        EnvFileError::Read {
            path: path.to_owned(),
            message: io_message(&e),
        }
    })?;
    let mut vars = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let valid_name = |n: &str| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match trimmed.split_once('=') {
            Some((name, value)) if valid_name(name) => {
                vars.push((name.to_owned(), value.to_owned()))
            }
            _ => {
                return Err(EnvFileError::Line {
                    path: path.to_owned(),
                    line: i + 1,
                });
            }
        }
    }
    Ok(vars)
}

/// Why an env file cannot be read as `NAME=value` lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    #[error("failed to read env file `{path}`: {message}")]
    Read { path: Utf8PathBuf, message: String },
    #[error("{path}:{line}: expected NAME=value (a name of letters, digits and `_`)")]
    Line { path: Utf8PathBuf, line: usize },
}

/// The recipe's directory, absolute.
fn absolute_dir(path: &Utf8Path) -> Utf8PathBuf {
    let dir = path.parent().unwrap_or(Utf8Path::new(""));
    let dir = if dir.as_str().is_empty() {
        Utf8Path::new(".")
    } else {
        dir
    };
    match dir.canonicalize_utf8() {
        Ok(d) => d,
        Err(_) => std::env::current_dir()
            .ok()
            .and_then(|c| Utf8PathBuf::from_path_buf(c).ok())
            .map_or_else(|| dir.to_owned(), |c| c.join(dir)),
    }
}

/// A template path as the user would type it from where they are.
fn display_path(recipe: &Utf8Path, relative: &str) -> Utf8PathBuf {
    let dir = recipe.parent().unwrap_or(Utf8Path::new(""));
    let joined = dir.join(relative);
    // Fold `a/../` so messages show `templates/x.tera`, not `recipes/../templates/x.tera`.
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.as_str().split('/') {
        match part {
            ".." if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) => {
                parts.pop();
            }
            "." => {}
            p => parts.push(p),
        }
    }
    Utf8PathBuf::from(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_path_folds_parent_dirs() {
        assert_eq!(
            display_path("recipes/a.toml".into(), "../templates/x.tera"),
            Utf8PathBuf::from("templates/x.tera")
        );
        assert_eq!(
            display_path("a.toml".into(), "t/x.tera"),
            Utf8PathBuf::from("t/x.tera")
        );
        assert_eq!(
            display_path("a.toml".into(), "../x.tera"),
            Utf8PathBuf::from("../x.tera")
        );
    }

    #[test]
    fn real_paths_follow_links_as_far_as_the_path_exists() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        std::fs::create_dir(root.join("images")).unwrap();
        std::os::unix::fs::symlink(root.join("images"), root.join("link")).unwrap();
        assert_eq!(real_path(&root.join("link")), root.join("images"));
        assert_eq!(real_path(&root.join("link/a/../b")), root.join("images/b"));
        assert_eq!(
            real_path(&root.join("none/../images/./x")),
            root.join("images/x")
        );
    }

    #[test]
    fn env_files_are_read_literally() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("env")).unwrap();
        std::fs::write(
            &path,
            "# secrets\n\nPIPELINE_SECRET_A=$(rm -rf /) `x` \"q\" 'y' $HOME\nB==2\n",
        )
        .unwrap();
        assert_eq!(
            env_file(&path).unwrap(),
            [
                (
                    "PIPELINE_SECRET_A".to_owned(),
                    "$(rm -rf /) `x` \"q\" 'y' $HOME".to_owned()
                ),
                ("B".to_owned(), "=2".to_owned()),
            ]
        );
        std::fs::write(&path, "ok=1\nexport X=1\n").unwrap();
        let err = env_file(&path).unwrap_err();
        assert_eq!(
            err,
            EnvFileError::Line {
                path: path.clone(),
                line: 2
            }
        );
        assert_eq!(
            err.to_string(),
            format!("{path}:2: expected NAME=value (a name of letters, digits and `_`)")
        );
    }

    #[test]
    fn secrets_come_from_the_environment() {
        // The test process's own environment: whatever it holds parses.
        assert!(secrets().is_ok());
    }
}

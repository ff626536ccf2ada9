use super::key_path::key_path_at;
use super::{RawBuild, RawRecipe, RawServices};
use crate::files::SourceFile;
use crate::output::{Diagnostic, Diagnostics};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use toml::de::{DeTable, DeValue, ValueDeserializer};

const SECTIONS: &[&str] = &[
    "name", "image", "bases", "matrix", "build", "services", "vars", "verify", "target",
];

/// Parse a recipe file into its raw form. Each top-level section is
/// deserialized on its own, so that a mistake in `[build]` does not hide one
/// in `[[target]]`: every problem found is reported.
pub fn parse(file: &Arc<SourceFile>) -> Result<RawRecipe, Diagnostics> {
    let (doc, errors) = DeTable::parse_recoverable(&file.text);
    let table = doc.get_ref();
    let mut diagnostics = Diagnostics::default();
    if !errors.is_empty() {
        for error in errors {
            diagnostics.push(toml_diagnostic(file, table, &error, "invalid TOML"));
        }
        return Err(diagnostics);
    }

    let mut name = None;
    let mut image = None;
    let mut bases = None;
    let mut matrix = None;
    let mut build = None;
    let mut services = None;
    let mut vars = None;
    let mut targets = None;
    let mut verify = None;
    for (key, value) in table.iter() {
        macro_rules! de {
            ($what:expr) => {
                Some(section(file, table, value.clone(), $what, &mut diagnostics))
            };
        }
        match key.get_ref().as_ref() {
            "name" => name = de!("`name`"),
            "image" => image = de!("[image]"),
            "bases" => bases = de!("[bases]"),
            "matrix" => matrix = de!("[matrix]"),
            "build" => build = de!("[build]"),
            "services" => services = de!("[services]"),
            "vars" => vars = de!("[vars]"),
            "target" => targets = de!("[[target]]"),
            "verify" => verify = de!("[verify]"),
            other => diagnostics.push(
                Diagnostic::at(file, key.span(), format!("unknown section `{other}`"))
                    .key(other)
                    .help(format!("expected one of: {}", SECTIONS.join(", "))),
            ),
        }
    }

    let mut require = |found: bool, name: &str, example: &str| {
        if !found {
            diagnostics.push(
                Diagnostic::at(file, 0..0, format!("missing section `{name}`"))
                    .key(name.trim_matches(['[', ']']))
                    .help(format!("add it, for example:\n{example}")),
            );
        }
    };
    require(
        image.is_some(),
        "[image]",
        "[image]\nprefix = \"my-image\"\ntemplate = \"../templates/my-image.sh.tera\"",
    );
    require(matrix.is_some(), "[matrix]", "[matrix]\nbase = [\"noble\"]");

    match (image.flatten(), matrix.flatten()) {
        (Some(image), Some(matrix)) if diagnostics.is_empty() => Ok(RawRecipe {
            name: name.flatten(),
            image,
            bases: bases.flatten().unwrap_or_default(),
            matrix,
            build: build.flatten().unwrap_or_else(RawBuild::default),
            services: services.flatten().unwrap_or_else(RawServices::default),
            vars: vars.flatten().unwrap_or_default(),
            targets: targets.flatten().unwrap_or_default(),
            verify: verify.flatten(),
        }),
        _ => Err(diagnostics),
    }
}

fn section<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    table: &DeTable<'_>,
    value: serde_spanned::Spanned<DeValue<'_>>,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(error) => {
            diagnostics.push(toml_diagnostic(
                file,
                table,
                &error,
                &format!("invalid {what}"),
            ));
            None
        }
    }
}

fn toml_diagnostic(
    file: &Arc<SourceFile>,
    table: &DeTable<'_>,
    error: &toml::de::Error,
    context: &str,
) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let message = plain_types(&error.message().trim_end().replace('\n', " "));
    let key = key_path_at(table, span.start);
    let mut d = Diagnostic::at(file, span, format!("{context}: {message}"));
    if let Some(key) = key {
        d = d.key(key);
    }
    d
}

/// Serde names Rust types ("expected i64"); say what a TOML user writes.
fn plain_types(message: &str) -> String {
    message
        .replace("expected i64", "expected an integer")
        .replace("expected u32", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
}

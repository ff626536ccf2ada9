use super::key_path::key_path_at;
use super::raw_build::SHARED_KEYS;
use super::{RawBuild, RawRecipe, RawServices};
use crate::backends::{self, RawBuildBackend};
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
            "build" => build = Some(build_section(file, table, value, &mut diagnostics)),
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

/// `[build]`: the keys every backend shares into [`RawBuild`], the rest
/// to the backend it names, which parses its own. A key of another
/// backend, or of none, is refused here, naming the backend it is for.
fn build_section(
    file: &Arc<SourceFile>,
    table: &DeTable<'_>,
    value: &serde_spanned::Spanned<DeValue<'_>>,
    diagnostics: &mut Diagnostics,
) -> Option<RawBuild> {
    let DeValue::Table(keys) = value.get_ref() else {
        // Not a table: let serde say so.
        return section(file, table, value.clone(), "[build]", diagnostics);
    };
    let shared = SHARED_KEYS;
    let backend = match keys.get("backend").map(|b| (b.get_ref(), b.span())) {
        None => backends::DEFAULT.to_owned(),
        Some((DeValue::String(name), span)) => {
            if !backends::NAMES.contains(&name.as_ref()) {
                diagnostics.push(
                    Diagnostic::at(file, span, format!("unknown backend `{name}`"))
                        .key("build.backend")
                        .help(format!("expected one of: {}", backends::NAMES.join(", "))),
                );
                return None;
            }
            name.to_string()
        }
        // Not a string: serde says so below.
        Some(_) => backends::DEFAULT.to_owned(),
    };
    let own = backends::keys_of(&backend);
    let mut common = DeTable::new();
    let mut rest = DeTable::new();
    let mut ok = true;
    for (key, v) in keys.iter() {
        let name = key.get_ref().as_ref();
        if own.iter().any(|k| k == name) {
            rest.insert(key.clone(), v.clone());
        } else if shared.contains(&name) {
            common.insert(key.clone(), v.clone());
        } else if !is_backend_key(name) {
            // As serde says it, with every key `[build]` takes.
            let mut known: Vec<String> = vec![shared[0].to_owned()];
            for b in backends::NAMES {
                for k in backends::keys_of(b) {
                    if !known.contains(&k) {
                        known.push(k);
                    }
                }
            }
            let known: Vec<String> = known
                .into_iter()
                .chain(shared[1..].iter().map(|k| (*k).to_owned()))
                .map(|k| format!("`{k}`"))
                .collect();
            let mut d = Diagnostic::at(
                file,
                key.span(),
                format!(
                    "invalid [build]: unknown field `{name}`, expected one of {}",
                    known.join(", ")
                ),
            );
            if let Some(path) = key_path_at(table, key.span().start) {
                d = d.key(path);
            }
            diagnostics.push(d);
            ok = false;
        } else {
            let owners: Vec<&str> = backends::NAMES
                .iter()
                .copied()
                .filter(|b| backends::keys_of(b).iter().any(|k| k == name))
                .collect();
            let owners = owners
                .iter()
                .map(|b| format!("`backend = \"{b}\"`"))
                .collect::<Vec<_>>()
                .join(" or ");
            diagnostics.push(
                Diagnostic::at(
                    file,
                    key.span(),
                    format!("`{name}` applies only to {owners}"),
                )
                .key(format!("build.{name}"))
                .help(format!("remove it, or set {owners} to build there")),
            );
            ok = false;
        }
    }
    let common = serde_spanned::Spanned::new(value.span(), DeValue::Table(common));
    let mut raw: RawBuild = section(file, table, common, "[build]", diagnostics)?;
    let rest = serde_spanned::Spanned::new(value.span(), DeValue::Table(rest));
    match RawBuildBackend::deserialize(&backend, ValueDeserializer::from(rest)) {
        Ok(settings) => raw.settings = settings,
        Err(error) => {
            diagnostics.push(toml_diagnostic(file, table, &error, "invalid [build]"));
            ok = false;
        }
    }
    ok.then_some(raw)
}

/// Whether some backend takes `key` in `[build]`.
fn is_backend_key(key: &str) -> bool {
    backends::NAMES
        .iter()
        .any(|b| backends::keys_of(b).iter().any(|k| k == key))
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

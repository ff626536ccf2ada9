use super::key_path::key_path_at;
use super::raw_build::SHARED_KEYS;
use super::suggest::did_you_mean;
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
            "matrix" => matrix = Some(matrix_section(file, table, value, &mut diagnostics)),
            "build" => build = Some(build_section(file, table, value, &mut diagnostics)),
            "services" => services = de!("[services]"),
            "vars" => vars = de!("[vars]"),
            "target" => targets = de!("[[target]]"),
            "verify" => verify = de!("[verify]"),
            other => {
                let mut d = Diagnostic::at(file, key.span(), format!("unknown section `{other}`"))
                    .key(other);
                if let Some(hint) = did_you_mean(other, SECTIONS.iter().copied()) {
                    d = d.help(hint);
                }
                diagnostics.push(d.help(format!("expected one of: {}", SECTIONS.join(", "))));
            }
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
            // Every key `[build]` takes, in the order serde would list them.
            let mut known: Vec<String> = vec![shared[0].to_owned()];
            for b in backends::NAMES {
                for k in backends::keys_of(b) {
                    if !known.contains(&k) {
                        known.push(k);
                    }
                }
            }
            known.extend(shared[1..].iter().map(|k| (*k).to_owned()));
            let mut d = unknown_key(file, key.span(), "invalid [build]", name, &known);
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

/// `[matrix]`: any key but `include` and `exclude` is an axis, so a typo
/// of theirs would read as an axis and fail as one ("expected a string").
/// A key whose value is an array of tables (what they take, never an
/// axis), or one close to theirs that is not an array of strings, is an
/// unknown key instead.
fn matrix_section(
    file: &Arc<SourceFile>,
    table: &DeTable<'_>,
    value: &serde_spanned::Spanned<DeValue<'_>>,
    diagnostics: &mut Diagnostics,
) -> Option<super::Spanned<super::RawMatrix>> {
    const OWN: [&str; 2] = ["include", "exclude"];
    let DeValue::Table(keys) = value.get_ref() else {
        return section(file, table, value.clone(), "[matrix]", diagnostics);
    };
    let mut axes = DeTable::new();
    let mut ok = true;
    for (key, v) in keys.iter() {
        let name = key.get_ref().as_ref();
        let items = match v.get_ref() {
            DeValue::Array(items) => Some(items),
            _ => None,
        };
        let tables = items.is_some_and(|i| {
            !i.is_empty() && i.iter().all(|x| matches!(x.get_ref(), DeValue::Table(_)))
        });
        let strings =
            items.is_some_and(|i| i.iter().all(|x| matches!(x.get_ref(), DeValue::String(_))));
        let near = did_you_mean(name, OWN).is_some();
        if !OWN.contains(&name) && (tables || (near && !strings)) {
            let mut d = Diagnostic::at(
                file,
                key.span(),
                format!("invalid [matrix]: unknown key `{name}`"),
            )
            .key(format!("matrix.{name}"));
            if let Some(hint) = did_you_mean(name, OWN) {
                d = d.help(hint);
            }
            diagnostics.push(d.help(
                "[matrix] takes axes (arrays of strings) and `include` and `exclude` (arrays of tables)",
            ));
            ok = false;
        } else {
            axes.insert(key.clone(), v.clone());
        }
    }
    let axes = serde_spanned::Spanned::new(value.span(), DeValue::Table(axes));
    let matrix = section(file, table, axes, "[matrix]", diagnostics)?;
    ok.then_some(matrix)
}

/// An unknown key in a table that takes `known`: with the near miss, if
/// there is one, and the keys there are.
fn unknown_key(
    file: &Arc<SourceFile>,
    span: std::ops::Range<usize>,
    context: &str,
    name: &str,
    known: &[String],
) -> Diagnostic {
    let mut d = Diagnostic::at(file, span, format!("{context}: unknown key `{name}`"));
    if let Some(hint) = did_you_mean(name, known.iter().map(String::as_str)) {
        d = d.help(hint);
    }
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    d.help(if known.is_empty() {
        "it takes no keys".to_owned()
    } else {
        format!("expected one of {}", known.join(", "))
    })
}

/// Serde's "unknown field `x`, expected one of `a`, `b`" (or "expected
/// `a`", "there are no fields"): the key and the keys there are.
fn serde_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((name.to_owned(), known))
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
    let mut d = match serde_unknown_field(&message) {
        Some((name, known)) => unknown_key(file, span, context, &name, &known),
        None => Diagnostic::at(file, span, format!("{context}: {message}")),
    };
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

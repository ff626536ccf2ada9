//! The one place that maps a backend's name to the backend: its `[build]`
//! keys as written (each backend's folder defines, checks and describes
//! its own), the settings they validate into, and its plan steps. `open`
//! (in `mod.rs`) starts the backend the settings name.

use super::BackendError;
use super::openstack::settings::{self as openstack_settings, OpenstackBuild, RawOpenstackBuild};
use super::qemu::settings::{self as qemu_settings, QemuBuild, RawQemuBuild};
use crate::files::SourceFile;
use crate::model::Secrets;
use crate::output::Diagnostics;
use crate::plan::BackendSteps;
use schemars::Schema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::ops::Range;
use std::sync::Arc;

/// Every backend's name, the default first.
pub const NAMES: &[&str] = &["qemu", "openstack"];

/// The backend of a recipe without `backend`.
pub const DEFAULT: &str = NAMES[0];

/// A backend's `[build]` keys, as written.
#[derive(Debug, Clone)]
pub enum RawBuildBackend {
    Qemu(RawQemuBuild),
    Openstack(RawOpenstackBuild),
}

/// The recipe's backend and its settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildBackend {
    Qemu(QemuBuild),
    Openstack(OpenstackBuild),
}

impl Default for RawBuildBackend {
    fn default() -> Self {
        RawBuildBackend::Qemu(RawQemuBuild::default())
    }
}

impl RawBuildBackend {
    /// The keys of backend `name` (one of [`NAMES`]) from `table`, which
    /// holds only keys of that backend.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        name: &str,
        table: D,
    ) -> Result<Self, D::Error> {
        Ok(match name {
            "openstack" => RawBuildBackend::Openstack(RawOpenstackBuild::deserialize(table)?),
            _ => RawBuildBackend::Qemu(RawQemuBuild::deserialize(table)?),
        })
    }

    /// Check the keys; `backend` is where the backend is named (or the
    /// start of `[build]`), for what a backend requires.
    pub fn validate(
        &self,
        file: &Arc<SourceFile>,
        backend: Range<usize>,
        problems: &mut Diagnostics,
    ) -> Option<BuildBackend> {
        match self {
            RawBuildBackend::Qemu(raw) => Some(BuildBackend::Qemu(raw.validate())),
            RawBuildBackend::Openstack(raw) => raw
                .validate(file, backend, problems)
                .map(BuildBackend::Openstack),
        }
    }
}

impl BuildBackend {
    pub fn name(&self) -> &'static str {
        self.steps().backend
    }

    /// The steps this backend adds to a plan (pure).
    pub fn steps(&self) -> &'static BackendSteps {
        match self {
            BuildBackend::Qemu(_) => &super::qemu::STEPS,
            BuildBackend::Openstack(_) => &super::openstack::STEPS,
        }
    }

    /// Whether this backend can hand `secrets` to a build safely.
    pub fn check_secrets(&self, recipe_path: &str, secrets: &Secrets) -> Result<(), BackendError> {
        match self {
            BuildBackend::Qemu(_) => Ok(()),
            BuildBackend::Openstack(_) => {
                Ok(openstack_settings::check_secrets(recipe_path, secrets)?)
            }
        }
    }
}

/// Each backend's key schema and the keys it requires, by name.
fn schemas() -> [(&'static str, Schema, &'static [&'static str]); 2] {
    [
        (
            "qemu",
            schemars::schema_for!(RawQemuBuild),
            qemu_settings::REQUIRED,
        ),
        (
            "openstack",
            schemars::schema_for!(RawOpenstackBuild),
            openstack_settings::REQUIRED,
        ),
    ]
}

fn properties(schema: &Schema) -> serde_json::Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The `[build]` keys of backend `name` (one of [`NAMES`]).
pub fn keys_of(name: &str) -> Vec<String> {
    schemas()
        .iter()
        .filter(|(n, _, _)| *n == name)
        .flat_map(|(_, schema, _)| properties(schema).keys().cloned().collect::<Vec<_>>())
        .collect()
}

/// Add every backend's keys to the schema of `[build]`: each allowed with
/// its backend only, and what a backend requires required with it.
pub fn extend_build_schema(schema: &mut Schema) {
    let all = schemas();
    let mut rules = Vec::new();
    for (name, backend, required) in &all {
        let own = properties(backend);
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            props.extend(own.clone());
        }
        // Keys of the other backends are refused with this one.
        let others: serde_json::Map<String, Value> = all
            .iter()
            .filter(|(n, _, _)| n != name)
            .flat_map(|(_, s, _)| properties(s).keys().cloned().collect::<Vec<_>>())
            .filter(|k| !own.contains_key(k))
            .map(|k| (k, json!(false)))
            .collect();
        let named =
            json!({ "properties": { "backend": { "const": name } }, "required": ["backend"] });
        // The default backend is also the one of a `[build]` without `backend`.
        let condition = if *name == DEFAULT {
            json!({ "anyOf": [named, { "not": { "required": ["backend"] } }] })
        } else {
            named
        };
        let mut then = json!({ "properties": others });
        if !required.is_empty() {
            then["required"] = json!(required);
        }
        rules.push(json!({ "if": condition, "then": then }));
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.insert(
            "backend".into(),
            json!({
                "description": "Where the build VMs run: `qemu` (this host, the default) or `openstack` (a cloud's compute service).",
                "type": "string",
                "enum": NAMES,
            }),
        );
    }
    schema.insert("allOf".into(), Value::Array(rules));
}

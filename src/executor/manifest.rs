//! The provenance manifest of a built image.

use super::RunContext;
use crate::backends::Backend;
use crate::freshness::Decision;
use crate::model::{Cell, TargetId};
use crate::output::Scrubber;
use crate::targets::Revision;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// How a cell was built: the run, when, how long each step took, by what
/// (`host`: the backend and, for QEMU, its version and accelerator), and
/// what its verify boot showed. Kept with a cached snapshot, so that a run
/// that only uploads it can still say how it was built.
pub fn build_record(
    run_id: &str,
    timings: &BTreeMap<String, f64>,
    built_by: &Value,
    verified: Option<&Value>,
) -> Value {
    let mut record = json!({
        "run": run_id,
        "built_at": jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        "timings": timings,
        "host": built_by,
    });
    if let Some(verified) = verified {
        record["verify"] = verified.clone();
    }
    record
}

/// Tool, recipe, cell, base, input key, output, where it was stored, how
/// long each step took and on what. `build` is the [`build_record`] (of
/// this run, or of the run that made a cached snapshot); `timings` are this
/// run's steps of the cell. Scrubbed: it is written beside the image and
/// into the run directory, and a base URL may carry a password.
pub fn manifest<B: Backend>(
    ctx: &RunContext<B>,
    cell: &Cell,
    decision: &Decision,
    revisions: &[(TargetId, Revision)],
    build: &Value,
    timings: &BTreeMap<String, f64>,
) -> Value {
    let recipe = ctx.recipe;
    let base = &recipe.bases[cell.base()];
    let (sha256, size) = revisions
        .iter()
        .find(|(_, r)| !r.meta.sha256.is_empty())
        .or(revisions.first())
        .map(|(_, r)| (r.meta.sha256.clone(), r.meta.size))
        .unwrap_or_default();
    let mut all_timings = build["timings"].clone();
    if !all_timings.is_object() {
        all_timings = json!({});
    }
    for (id, secs) in timings {
        all_timings[id] = json!(secs);
    }
    let images: serde_json::Map<String, Value> = revisions
        .iter()
        .map(|(t, r)| (recipe.targets[*t].name.clone(), json!(r.id)))
        .collect();
    let mut manifest = json!({
        "tool": { "name": "pipeline", "version": env!("CARGO_PKG_VERSION") },
        "recipe": {
            "name": recipe.name,
            "path": recipe.dir.join(recipe.file.path.file_name().unwrap_or("recipe.toml")),
            "hash": ctx.recipe_hash,
        },
        "image_name": cell.image_name,
        "cell": cell,
        "arch": recipe.image.arch,
        "base": {
            "name": base.name,
            "url": base.source.to_string(),
            "sha256": ctx.base_digests.get(&base.name),
        },
        "input_key": decision.key.key,
        "inputs": decision.key.inputs,
        "output": { "sha256": sha256, "size": size },
        "images": images,
        "built_by_run": build.get("run").cloned().unwrap_or(json!(ctx.run_id)),
        "built_at": build.get("built_at").cloned().unwrap_or(Value::Null),
        "recorded_by_run": ctx.run_id,
        "timings": all_timings,
        "host": build.get("host").cloned().unwrap_or(Value::Null),
        // `null` for a recipe without `[verify]`.
        "verify": build.get("verify").cloned().unwrap_or(Value::Null),
    });
    Scrubber::global().scrub_json(&mut manifest);
    manifest
}

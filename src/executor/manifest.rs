//! The provenance manifest of a built image.

use super::RunContext;
use crate::freshness::Decision;
use crate::model::Cell;
use crate::targets::Revision;
use serde_json::{Value, json};

/// Tool, recipe, cell, base, input key, output, where it was stored, how long
/// each step took and on what host. For a cell that only uploaded a cached
/// snapshot, the build part comes from the run that made the snapshot.
pub fn manifest(
    ctx: &RunContext,
    cell: &Cell,
    decision: &Decision,
    revisions: &[(usize, Revision)],
) -> Value {
    let recipe = ctx.recipe;
    let base = &recipe.bases[cell.base()];
    let build = ctx
        .snapshots
        .build_record(&decision.key.key)
        .unwrap_or(Value::Null);
    let (sha256, size) = revisions
        .first()
        .map(|(_, r)| (r.meta.sha256.clone(), r.meta.size))
        .unwrap_or_default();
    let mut timings = build["timings"].clone();
    if !timings.is_object() {
        timings = json!({});
    }
    for (id, secs) in ctx.timings.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if id.ends_with(&format!(":{}", cell.image_name))
            || id.contains(&format!(":{}@", cell.image_name))
        {
            timings[id] = json!(secs);
        }
    }
    let images: serde_json::Map<String, Value> = revisions
        .iter()
        .map(|(t, r)| (recipe.targets[*t].name.clone(), json!(r.id)))
        .collect();
    json!({
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
        "timings": timings,
        "host": build.get("host").cloned().unwrap_or(json!({
            "qemu": ctx.qemu_version,
            "accelerator": ctx.accel.current().as_str(),
        })),
    })
}

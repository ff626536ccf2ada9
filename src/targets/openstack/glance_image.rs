//! The properties through which a Glance image says what it is: the
//! [`ImageMeta`] of the directory store's `.json`, as Glance properties.
//!
//! | property | value |
//! | --- | --- |
//! | `architecture` | `x86_64` / `aarch64` (from `x64` / `arm64`) |
//! | `os_distro`, `os_version` | from the base, when known |
//! | `pipeline_owner` | `pipeline:<recipe>`: only images with ours are listed or deleted |
//! | `pipeline_sha256`, `pipeline_recipe_hash` | the qcow2's SHA-256, the recipe's |
//! | `pipeline_input_key`, `pipeline_inputs` | when known (`inputs` as JSON) |
//! | `pipeline_cell` | the cell's axis values as a JSON object, in axis order |
//! | `pipeline_<axis>` | one per axis (`pipeline_base`, `pipeline_juju`, …), except axes named like the properties above |
//! | `pipeline_manifest` | the provenance manifest (see `attach_manifest`) |

use crate::model::Visibility;
use crate::openstack::GlanceImage;
use crate::targets::{ImageMeta, Revision};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const OWNER: &str = "pipeline_owner";
pub const MANIFEST: &str = "pipeline_manifest";
pub const SHA256: &str = "pipeline_sha256";
const RECIPE_HASH: &str = "pipeline_recipe_hash";
const INPUT_KEY: &str = "pipeline_input_key";
const INPUTS: &str = "pipeline_inputs";
const CELL: &str = "pipeline_cell";
const BASE: &str = "pipeline_base";
/// `pipeline_<axis>` is not written for these axes: the names are taken.
const TAKEN: [&str; 7] = [
    "owner",
    "manifest",
    "sha256",
    "recipe_hash",
    "input_key",
    "inputs",
    "cell",
];

/// An image as a revision of a pipeline target.
pub trait ImageProperties {
    /// What `POST /v2/images` gets for a new revision of `meta`.
    fn create_body(meta: &ImageMeta, visibility: Visibility) -> Value;
    /// The metadata the properties carry (what is missing stays empty).
    fn meta(&self) -> ImageMeta;
    fn revision(&self) -> Revision;
}

impl ImageProperties for GlanceImage {
    fn create_body(meta: &ImageMeta, visibility: Visibility) -> Value {
        let mut body = json!({
            "name": meta.name,
            "disk_format": "qcow2",
            "container_format": "bare",
            "visibility": visibility.as_str(),
            "architecture": glance_arch(&meta.arch),
            OWNER: meta.owner,
            SHA256: meta.sha256,
            RECIPE_HASH: meta.recipe_hash,
            CELL: serde_json::to_string(&meta.cell).expect("JSON serializes"),
            BASE: meta.base,
        });
        let map = body.as_object_mut().expect("an object");
        if let Some(v) = &meta.os_distro {
            map.insert("os_distro".into(), json!(v));
        }
        if let Some(v) = &meta.os_version {
            map.insert("os_version".into(), json!(v));
        }
        if let Some(v) = &meta.input_key {
            map.insert(INPUT_KEY.into(), json!(v));
        }
        if !meta.inputs.is_empty() {
            let inputs = serde_json::to_string(&meta.inputs).expect("JSON serializes");
            map.insert(INPUTS.into(), json!(inputs));
        }
        for (axis, value) in &meta.cell {
            if axis != "base" && !TAKEN.contains(&axis.as_str()) {
                map.insert(format!("pipeline_{axis}"), json!(value));
            }
        }
        body
    }

    fn meta(&self) -> ImageMeta {
        let p = |k: &str| self.property(k).map(str::to_owned);
        let cell: IndexMap<String, String> = p(CELL)
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_else(|| axes_from_properties(self));
        let inputs: BTreeMap<String, String> = p(INPUTS)
            .and_then(|i| serde_json::from_str(&i).ok())
            .unwrap_or_default();
        ImageMeta {
            name: self.name.clone(),
            owner: p(OWNER).unwrap_or_default(),
            arch: pipeline_arch(self.property("architecture").unwrap_or_default()),
            base: p(BASE)
                .or_else(|| cell.get("base").cloned())
                .unwrap_or_default(),
            cell,
            sha256: p(SHA256).unwrap_or_default(),
            size: self.size.unwrap_or(0),
            recipe_hash: p(RECIPE_HASH).unwrap_or_default(),
            input_key: p(INPUT_KEY),
            inputs,
            os_distro: p("os_distro"),
            os_version: p("os_version"),
        }
    }

    fn revision(&self) -> Revision {
        Revision {
            id: self.id.clone(),
            created_at: self.created_at.clone(),
            number: None,
            meta: self.meta(),
        }
    }
}

/// Without `pipeline_cell`: every other `pipeline_<axis>`, base first.
fn axes_from_properties(image: &GlanceImage) -> IndexMap<String, String> {
    let mut cell = IndexMap::new();
    if let Some(base) = image.property(BASE) {
        cell.insert("base".to_owned(), base.to_owned());
    }
    for (key, value) in &image.fields {
        if let (Some(axis), Some(value)) = (key.strip_prefix("pipeline_"), value.as_str())
            && axis != "base"
            && !TAKEN.contains(&axis)
        {
            cell.insert(axis.to_owned(), value.to_owned());
        }
    }
    cell
}

/// Glance's (and Nova's) architecture names.
fn glance_arch(arch: &str) -> &str {
    match arch {
        "x64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

fn pipeline_arch(arch: &str) -> String {
    match arch {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ImageMeta {
        ImageMeta {
            name: "runner-noble-x64-juju-3.1-stable".into(),
            owner: "pipeline:runner".into(),
            arch: "x64".into(),
            base: "noble".into(),
            cell: [
                ("base", "noble"),
                ("juju", "3.1/stable"),
                ("microk8s", ""),
                ("owner", "x"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            sha256: "ab".repeat(32),
            size: 1234,
            recipe_hash: "cd".repeat(32),
            input_key: Some("key".into()),
            inputs: [("base".to_owned(), "h1".to_owned())].into_iter().collect(),
            os_distro: Some("ubuntu".into()),
            os_version: Some("24.04".into()),
        }
    }

    /// What Glance sends back for an image created with `create_body`.
    fn as_glance(body: Value) -> GlanceImage {
        let mut v = body;
        v["id"] = json!("8c1d5e2a-0000-4000-8000-000000000001");
        v["status"] = json!("active");
        v["created_at"] = json!("2026-11-28T18:47:41Z");
        v["updated_at"] = json!("2026-11-28T18:47:43Z");
        v["size"] = json!(1234);
        GlanceImage::from_json(v).unwrap()
    }

    #[test]
    fn create_body_has_every_property() {
        let body = GlanceImage::create_body(&meta(), Visibility::Private);
        assert_eq!(body["name"], "runner-noble-x64-juju-3.1-stable");
        assert_eq!(body["disk_format"], "qcow2");
        assert_eq!(body["container_format"], "bare");
        assert_eq!(body["visibility"], "private");
        assert_eq!(body["architecture"], "x86_64");
        assert_eq!(body["os_distro"], "ubuntu");
        assert_eq!(body["os_version"], "24.04");
        assert_eq!(body["pipeline_owner"], "pipeline:runner");
        assert_eq!(body["pipeline_sha256"], "ab".repeat(32));
        assert_eq!(body["pipeline_recipe_hash"], "cd".repeat(32));
        assert_eq!(body["pipeline_input_key"], "key");
        assert_eq!(body["pipeline_inputs"], r#"{"base":"h1"}"#);
        assert_eq!(body["pipeline_base"], "noble");
        assert_eq!(body["pipeline_juju"], "3.1/stable");
        assert_eq!(body["pipeline_microk8s"], "");
        assert_eq!(
            body["pipeline_cell"],
            r#"{"base":"noble","juju":"3.1/stable","microk8s":"","owner":"x"}"#
        );
        // An axis named `owner` never touches the ownership property.
        assert_eq!(body["pipeline_owner"], "pipeline:runner");
        // Every property is a string, as Glance requires.
        for (k, v) in body.as_object().unwrap() {
            assert!(v.is_string(), "{k}: {v}");
        }
        let arm = ImageMeta {
            arch: "arm64".into(),
            os_distro: None,
            input_key: None,
            inputs: Default::default(),
            ..meta()
        };
        let body = GlanceImage::create_body(&arm, Visibility::Community);
        assert_eq!(body["architecture"], "aarch64");
        assert_eq!(body["visibility"], "community");
        for absent in ["os_distro", "pipeline_input_key", "pipeline_inputs"] {
            assert!(body.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn metadata_round_trips_through_the_properties() {
        let m = meta();
        let image = as_glance(GlanceImage::create_body(&m, Visibility::Private));
        assert_eq!(image.meta(), m);
        let rev = image.revision();
        assert_eq!(rev.id, "8c1d5e2a-0000-4000-8000-000000000001");
        assert_eq!(rev.created_at, "2026-11-28T18:47:41Z");
        assert_eq!(rev.number, None);
    }

    #[test]
    fn without_pipeline_cell_the_axis_properties_are_used() {
        let mut body = GlanceImage::create_body(&meta(), Visibility::Private);
        body.as_object_mut().unwrap().remove("pipeline_cell");
        let image = as_glance(body);
        let meta = image.meta();
        let cell: Vec<(&str, &str)> = meta
            .cell
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(cell[0], ("base", "noble"));
        assert!(cell.contains(&("juju", "3.1/stable")));
        assert!(cell.contains(&("microk8s", "")));
    }

    #[test]
    fn a_foreign_image_has_empty_metadata() {
        let image = GlanceImage::from_json(json!({
            "id": "x", "name": "n", "status": "active", "size": null, "architecture": "ppc64le"}))
        .unwrap();
        let m = image.meta();
        assert_eq!(m.owner, "");
        assert_eq!(m.arch, "ppc64le");
        assert_eq!(m.size, 0);
        assert!(matches!(
            GlanceImage::from_json(json!({"name": "no id"})),
            Err(crate::openstack::GlanceImageError::NoId)
        ));
    }
}

use super::{Spanned, rules};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;

/// One `include`/`exclude` entry: axis name → value.
pub type RawCombination = IndexMap<Spanned<String>, Spanned<String>>;

/// One axis: its name and its values.
pub type RawAxis = (Spanned<String>, Spanned<Vec<Spanned<String>>>);

/// `[matrix]`: every key but `include`/`exclude` is an axis, in the order
/// written (the order matters for image names).
#[derive(Debug, Clone, Default)]
pub struct RawMatrix {
    pub axes: Vec<RawAxis>,
    pub include: Vec<Spanned<RawCombination>>,
    pub exclude: Vec<Spanned<RawCombination>>,
}

impl<'de> Deserialize<'de> for RawMatrix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatrixVisitor;

        impl<'de> Visitor<'de> for MatrixVisitor {
            type Value = RawMatrix;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of axes (arrays of strings) and optional include/exclude")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMatrix, A::Error> {
                let mut matrix = RawMatrix::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "include" => matrix.include = map.next_value()?,
                        "exclude" => matrix.exclude = map.next_value()?,
                        _ => matrix.axes.push((key, map.next_value()?)),
                    }
                }
                Ok(matrix)
            }
        }

        deserializer.deserialize_map(MatrixVisitor)
    }
}

impl JsonSchema for RawMatrix {
    fn schema_name() -> Cow<'static, str> {
        "RawMatrix".into()
    }

    /// What the model checks of each axis and entry that depends on no other
    /// part of the recipe: names, non-empty axes without repeated values,
    /// channels, `include` entries with a `base`, non-empty `exclude` entries.
    /// Whether a base has a `[bases]` entry, an entry names real axes, an
    /// exclude value is among its axis' values, and whether the cells' image
    /// names differ, depend on other values: no schema says that.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let axis_name = json_schema!({
            "pattern": rules::AXIS_NAME,
            "not": { "enum": rules::RESERVED_AXES }
        });
        // An entry's keys are axes, so never `include` or `exclude`.
        let mut entry_key_taken: Vec<&str> = rules::RESERVED_AXES.to_vec();
        entry_key_taken.extend(["include", "exclude"]);
        let entry_key = json_schema!({
            "pattern": rules::AXIS_NAME,
            "not": { "enum": entry_key_taken }
        });
        let base = json_schema!({ "type": "string", "pattern": rules::NAME });
        let channel = json_schema!({ "type": "string", "pattern": rules::CHANNEL });
        let value = json_schema!({ "type": "string", "pattern": rules::AXIS_VALUE });
        let axis = |item: &Schema, description: &str| {
            json_schema!({
                "description": description,
                "type": "array",
                "items": item,
                "minItems": 1,
                "uniqueItems": true
            })
        };
        let mut properties = serde_json::Map::new();
        properties.insert(
            "base".into(),
            axis(&base, "Required: names of `[bases.*]` entries.").into(),
        );
        for name in rules::CHANNEL_AXES {
            properties.insert(
                (*name).into(),
                axis(
                    &channel,
                    "Snap channels `<track>/<risk>` (like `3.1/stable`), \"\" for not installed.",
                )
                .into(),
            );
        }
        let mut entry_properties = serde_json::Map::new();
        entry_properties.insert("base".into(), base.clone().into());
        for name in rules::CHANNEL_AXES {
            entry_properties.insert((*name).into(), channel.clone().into());
        }
        let entry = json_schema!({
            "type": "object",
            "propertyNames": entry_key,
            "properties": entry_properties,
            "additionalProperties": value
        });
        let mut include = entry.clone();
        include.insert("required".into(), serde_json::json!(["base"]));
        let mut exclude = entry;
        exclude.insert("minProperties".into(), 1.into());
        properties.insert(
            "include".into(),
            json_schema!({
                "description": "Extra cells, as in CI matrices; axes left out are empty.",
                "type": "array",
                "items": include
            })
            .into(),
        );
        properties.insert(
            "exclude".into(),
            json_schema!({
                "description": "Cells to drop: every cell matching all the given axis values.",
                "type": "array",
                "items": exclude
            })
            .into(),
        );
        json_schema!({
            "description": "Axes of the build matrix: each key but include/exclude is an axis whose values are strings; `base` is required and names `[bases.*]` entries. An empty string means \"not set\" (for juju/microk8s: not installed). Axis names are lowercase letters, digits and `_`, starting with a letter; values of other axes are letters, digits, `.`, `_`, `-` and `/`.",
            "type": "object",
            "required": ["base"],
            "propertyNames": axis_name,
            "properties": properties,
            "additionalProperties": axis(&value, "Values of the axis: letters, digits, `.`, `_`, `-` and `/`, or \"\" for not set.")
        })
    }
}

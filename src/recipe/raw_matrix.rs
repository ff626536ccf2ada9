use super::Spanned;
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

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let combination = json_schema!({
            "type": "object",
            "additionalProperties": { "type": "string" }
        });
        json_schema!({
            "description": "Axes of the build matrix: each key but include/exclude is an axis whose values are strings; `base` is required and names `[bases.*]` entries. An empty string means \"not set\" (for juju/microk8s: not installed).",
            "type": "object",
            "required": ["base"],
            "properties": {
                "base": { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                "include": {
                    "description": "Extra cells, as in CI matrices; axes left out are empty.",
                    "type": "array", "items": combination
                },
                "exclude": {
                    "description": "Cells to drop: every cell matching all the given axis values.",
                    "type": "array", "items": combination
                }
            },
            "additionalProperties": { "type": "array", "items": { "type": "string" } }
        })
    }
}

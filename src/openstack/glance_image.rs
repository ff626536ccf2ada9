use super::GlanceImageError;
use serde_json::{Map, Value};

/// An image as Glance describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct GlanceImage {
    pub id: String,
    pub name: String,
    /// `queued`, `saving`, `active`, `killed`, …
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub size: Option<u64>,
    /// MD5 of the data.
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    /// The project that owns it.
    pub owner: Option<String>,
    /// Every field as Glance sent it, custom properties included.
    pub fields: Map<String, Value>,
}

impl GlanceImage {
    pub fn from_json(value: Value) -> Result<Self, GlanceImageError> {
        let Value::Object(fields) = value else {
            return Err(GlanceImageError::NotAnObject);
        };
        let s = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(id) = s("id") else {
            return Err(GlanceImageError::NoId);
        };
        Ok(Self {
            name: s("name").unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            created_at: s("created_at").unwrap_or_default(),
            updated_at: s("updated_at").unwrap_or_default(),
            size: fields.get("size").and_then(Value::as_u64),
            checksum: s("checksum"),
            os_hash_algo: s("os_hash_algo"),
            os_hash_value: s("os_hash_value"),
            owner: s("owner"),
            id,
            fields,
        })
    }

    /// A string property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }
}

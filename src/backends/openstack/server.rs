use serde_json::{Map, Value};

/// A server as Nova describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: String,
    /// `BUILD`, `ACTIVE`, `SHUTOFF`, `ERROR`, …
    pub status: String,
    /// Nova's reason for `ERROR`.
    pub fault: Option<String>,
    pub metadata: Map<String, Value>,
}

impl Server {
    pub fn from_json(value: &Value) -> Self {
        let s = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
        Self {
            id: s("id"),
            name: s("name"),
            status: s("status"),
            fault: value["fault"]["message"].as_str().map(str::to_owned),
            metadata: value["metadata"].as_object().cloned().unwrap_or_default(),
        }
    }

    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

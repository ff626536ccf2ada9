use crate::files::digest::sha256_bytes;
use crate::guest::WRAPPER_VERSION;
use crate::model::{Cell, Recipe, Secrets};
use serde::Serialize;
use std::collections::BTreeMap;

/// Bumped when what goes into the key changes meaning.
const KEY_VERSION: &str = "pipeline-input-key-1";

/// A hash of everything that determines a cell's image bytes, and the
/// hashes it is made of, so that a rebuild can say which input changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputKey {
    pub key: String,
    /// `base`, `script`, `settings`, `secrets`, `wrapper` → SHA-256.
    pub inputs: BTreeMap<String, String>,
}

/// Human names of the inputs, for "rebuild: the script changed".
pub fn describe_input(name: &str) -> &str {
    match name {
        "base" => "the base image",
        "script" => "the provisioning script",
        "settings" => "the build settings",
        "secrets" => "the secrets",
        "wrapper" => "pipeline's guest wrapper",
        "verify" => "the verify script",
        other => other,
    }
}

impl InputKey {
    /// `script` is the cell's rendered template; `base_sha256` the digest
    /// the base must have (resolved on every run). Secret values only enter
    /// as a hash, mixed with their names. `verify`, the rendered verify
    /// script, is an input too: an image is only as good as the checks it
    /// passed, so new checks mean a new image (recipes without `[verify]`
    /// keep their keys).
    pub fn compute(
        recipe: &Recipe,
        cell: &Cell,
        base_sha256: &str,
        script: &str,
        verify: Option<&str>,
        secrets: &Secrets,
    ) -> InputKey {
        let mut inputs = BTreeMap::new();
        inputs.insert("base".to_owned(), base_sha256.to_owned());
        inputs.insert("script".to_owned(), sha256_bytes(script.as_bytes()));
        if let Some(verify) = verify {
            inputs.insert("verify".to_owned(), sha256_bytes(verify.as_bytes()));
        }
        // What changes the bytes of the image: not cpus, memory or timeout.
        let settings = serde_json::json!({
            "image_name": cell.image_name,
            "cell": cell,
            "arch": recipe.image.arch,
            "disk_size": recipe.image.disk_size,
            "compression": recipe.build.compression,
        });
        inputs.insert(
            "settings".to_owned(),
            sha256_bytes(settings.to_string().as_bytes()),
        );
        let mut secret_text = String::new();
        for secret in secrets.iter() {
            secret_text.push_str(&format!("{}\0{}\0", secret.name, secret.value()));
        }
        inputs.insert("secrets".to_owned(), sha256_bytes(secret_text.as_bytes()));
        inputs.insert(
            "wrapper".to_owned(),
            sha256_bytes(WRAPPER_VERSION.as_bytes()),
        );
        let mut all = String::from(KEY_VERSION);
        for (name, hash) in &inputs {
            all.push_str(&format!("\n{name}={hash}"));
        }
        InputKey {
            key: sha256_bytes(all.as_bytes()),
            inputs,
        }
    }

    /// The inputs that differ from a stored image's, by name (one the
    /// stored image had and this key lacks counts too).
    pub fn changed_since<'s>(&'s self, stored: &'s BTreeMap<String, String>) -> Vec<&'s str> {
        let mut changed: Vec<&str> = self
            .inputs
            .iter()
            .filter(|(name, hash)| stored.get(*name) != Some(hash))
            .map(|(name, _)| name.as_str())
            .collect();
        changed.extend(
            stored
                .keys()
                .filter(|name| !self.inputs.contains_key(*name))
                .map(String::as_str),
        );
        changed.sort_unstable();
        changed
    }
}

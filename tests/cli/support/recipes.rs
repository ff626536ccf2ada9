//! The recipes the tests write.

use super::{Sandbox, fixture, fixture_sha256, repo};

const TINY_TEMPLATE: &str = r#"#!/bin/sh
set -eu
echo "provisioning {{ image_name }}"
mkdir -p /etc/pipeline-test
echo {{ case | shell_quote }} >/etc/pipeline-test/case
{% if case == "a-fails" %}
echo "about to fail on purpose"
exit 1
{% endif %}
{% if case == "hangs" %}
echo "hanging on purpose"
sleep 100000
{% endif %}
echo "finished {{ case }}"
"#;

/// A recipe on the tiny image (`tiny.toml` in the sandbox) with the given `case` values.
pub fn tiny_recipe(sb: &Sandbox, cases: &[&str], keep: u32, timeout: &str, sha256: Option<&str>) {
    let image = fixture("tiny-image.sh");
    let sha = sha256.map_or_else(|| fixture_sha256(&image), str::to_owned);
    sb.write("tiny.sh.tera", TINY_TEMPLATE);
    let cases: Vec<String> = cases.iter().map(|c| format!("\"{c}\"")).collect();
    sb.write(
        "tiny.toml",
        &format!(
            r#"[image]
prefix = "tiny"
template = "tiny.sh.tera"

[bases.tiny]
url = "{}"
sha256 = "{sha}"

[matrix]
base = ["tiny"]
case = [{}]

[build]
cpus = 1
memory = "256M"
timeout = "{timeout}"

[[target]]
name = "local"
kind = "directory"
path = "images"
keep = {keep}
"#,
            image.display(),
            cases.join(", ")
        ),
    );
}

/// recipes/demo.toml on the Debian cloud image fixture, its template by
/// absolute path, storing into `images` beside the recipe.
pub fn demo_recipe() -> String {
    let image = fixture("cloud-image.sh");
    let recipe = std::fs::read_to_string(repo().join("recipes/demo.toml"))
        .unwrap()
        .replace(
            "../templates/demo.sh.tera",
            &repo().join("templates/demo.sh.tera").display().to_string(),
        )
        .replace(
            "url = \"demo-base/debian-cloud.qcow2\"\nsha256sums = \"demo-base/SHA256SUMS\"\n",
            &format!(
                "url = \"{}\"\nsha256 = \"{}\"\n",
                image.display(),
                fixture_sha256(&image)
            ),
        )
        .replace("path = \"../images\"", "path = \"images\"");
    assert!(
        recipe.contains("sha256 = \""),
        "the demo recipe changed shape"
    );
    recipe
}

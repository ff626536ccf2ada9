//! The recipes the tests write: one builder, [`Recipe`], with a preset for
//! the tiny image ([`tiny_recipe`]), and the shipped demo recipe moved onto
//! the Debian cloud image fixture ([`demo_recipe`]).

use super::{Sandbox, fixture, fixture_sha256, repo};
use std::fmt::Write;
use std::path::PathBuf;

/// A recipe with one base, `tiny`, and a matrix of `base` and (if any
/// cases are given) `case`, written as `<name>.toml` with its template
/// `<name>.sh.tera` beside it. Image names are
/// `<prefix>-tiny-x64[-case-<case>]`.
///
/// Defaults: the tiny fixture image as the base, no `case` axis, a build
/// of 1 vCPU, 256M and a `3m` timeout, and one directory target `local`
/// in `images` keeping 2.
#[derive(Debug, Clone)]
pub struct Recipe {
    name: String,
    prefix: String,
    template: String,
    /// `None`: the tiny fixture, resolved when written.
    base: Option<(String, String)>,
    os: Option<(String, String)>,
    cases: Vec<String>,
    disk_size: Option<String>,
    timeout: String,
    compression: Option<String>,
    targets: Vec<Target>,
}

/// One `[[target]]` table.
#[derive(Debug, Clone)]
pub enum Target {
    Directory {
        name: String,
        path: String,
        keep: u32,
    },
    Openstack {
        name: String,
        cloud: String,
        keep: u32,
    },
}

impl Target {
    pub fn directory(name: &str, path: &str, keep: u32) -> Target {
        Target::Directory {
            name: name.to_owned(),
            path: path.to_owned(),
            keep,
        }
    }

    pub fn openstack(name: &str, cloud: &str, keep: u32) -> Target {
        Target::Openstack {
            name: name.to_owned(),
            cloud: cloud.to_owned(),
            keep,
        }
    }

    fn keep_mut(&mut self) -> &mut u32 {
        match self {
            Target::Directory { keep, .. } | Target::Openstack { keep, .. } => keep,
        }
    }

    fn toml(&self) -> String {
        match self {
            Target::Directory { name, path, keep } => format!(
                "[[target]]\nname = \"{name}\"\nkind = \"directory\"\npath = \"{path}\"\nkeep = {keep}\n"
            ),
            Target::Openstack { name, cloud, keep } => format!(
                "[[target]]\nname = \"{name}\"\nkind = \"openstack\"\ncloud = \"{cloud}\"\nkeep = {keep}\n"
            ),
        }
    }
}

impl Recipe {
    /// `<name>.toml` with image names starting `<prefix>-`, provisioned by
    /// `template` (Tera).
    pub fn new(name: &str, prefix: &str, template: &str) -> Recipe {
        Recipe {
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            template: template.to_owned(),
            base: None,
            os: None,
            cases: Vec::new(),
            disk_size: None,
            timeout: "3m".to_owned(),
            compression: None,
            targets: vec![Target::directory("local", "images", 2)],
        }
    }

    /// The base image, by path or URL, and its SHA-256 (instead of the tiny
    /// fixture).
    pub fn base(mut self, url: impl Into<PathBuf>, sha256: &str) -> Recipe {
        let url = url.into().display().to_string();
        self.base = Some((url, sha256.to_owned()));
        self
    }

    /// The tiny fixture with another SHA-256 than its own.
    pub fn sha256(self, sha256: &str) -> Recipe {
        let image = fixture("tiny-image.sh");
        self.base(image, sha256)
    }

    /// The base's `os_distro` and `os_version`.
    pub fn os(mut self, distro: &str, version: &str) -> Recipe {
        self.os = Some((distro.to_owned(), version.to_owned()));
        self
    }

    /// The values of the `case` axis.
    pub fn cases(mut self, cases: &[&str]) -> Recipe {
        self.cases = cases.iter().map(|&c| c.to_owned()).collect();
        self
    }

    pub fn disk_size(mut self, size: &str) -> Recipe {
        self.disk_size = Some(size.to_owned());
        self
    }

    pub fn timeout(mut self, timeout: &str) -> Recipe {
        self.timeout = timeout.to_owned();
        self
    }

    pub fn compression(mut self, compression: &str) -> Recipe {
        self.compression = Some(compression.to_owned());
        self
    }

    pub fn template(mut self, template: &str) -> Recipe {
        self.template = template.to_owned();
        self
    }

    pub fn targets(mut self, targets: Vec<Target>) -> Recipe {
        self.targets = targets;
        self
    }

    /// Every target keeps `keep` revisions.
    pub fn keep(mut self, keep: u32) -> Recipe {
        for t in &mut self.targets {
            *t.keep_mut() = keep;
        }
        self
    }

    /// The recipe file's name, `<name>.toml`.
    pub fn file(&self) -> String {
        format!("{}.toml", self.name)
    }

    /// The recipe's text.
    pub fn toml(&self) -> String {
        let (url, sha256) = self.base.clone().unwrap_or_else(|| {
            let image = fixture("tiny-image.sh");
            let sha = fixture_sha256(&image);
            (image.display().to_string(), sha)
        });
        let mut out = format!(
            "[image]\nprefix = \"{}\"\ntemplate = \"{}.sh.tera\"\n",
            self.prefix, self.name
        );
        if let Some(size) = &self.disk_size {
            let _ = writeln!(out, "disk_size = \"{size}\"");
        }
        let _ = write!(
            out,
            "\n[bases.tiny]\nurl = \"{url}\"\nsha256 = \"{sha256}\"\n"
        );
        if let Some((distro, version)) = &self.os {
            let _ = write!(
                out,
                "os_distro = \"{distro}\"\nos_version = \"{version}\"\n"
            );
        }
        out.push_str("\n[matrix]\nbase = [\"tiny\"]\n");
        if !self.cases.is_empty() {
            let cases: Vec<String> = self.cases.iter().map(|c| format!("\"{c}\"")).collect();
            let _ = writeln!(out, "case = [{}]", cases.join(", "));
        }
        let _ = write!(
            out,
            "\n[build]\ncpus = 1\nmemory = \"256M\"\ntimeout = \"{}\"\n",
            self.timeout
        );
        if let Some(c) = &self.compression {
            let _ = writeln!(out, "compression = \"{c}\"");
        }
        for target in &self.targets {
            out.push('\n');
            out.push_str(&target.toml());
        }
        out
    }

    /// Write the recipe and its template into the sandbox; the recipe's path.
    pub fn write(&self, sb: &Sandbox) -> PathBuf {
        sb.write(&format!("{}.sh.tera", self.name), &self.template);
        sb.write(&self.file(), &self.toml())
    }
}

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

/// `tiny.toml` on the tiny image (image names `tiny-tiny-x64-case-<case>`),
/// with a template that fails for the case `a-fails`, hangs for `hangs`
/// and succeeds otherwise; times out after `2m`.
pub fn tiny_recipe(cases: &[&str]) -> Recipe {
    Recipe::new("tiny", "tiny", TINY_TEMPLATE)
        .cases(cases)
        .timeout("2m")
}

/// recipes/demo.toml on the Debian cloud image fixture, its template by
/// absolute path, storing into `images` beside the recipe.
pub fn demo_recipe() -> String {
    shipped_demo("recipes/demo.toml", "cloud-image.sh", "debian-cloud.qcow2")
}

/// `recipe` without its `[verify]` section (for tests about something else,
/// which save the verify boot).
pub fn without_verify(recipe: &str) -> String {
    let start = recipe.find("\n[verify]\n").expect("a [verify] section");
    let end = recipe[start + 1..]
        .find("\n[")
        .map_or(recipe.len(), |e| start + 1 + e);
    format!("{}{}", &recipe[..start], &recipe[end..])
}

/// recipes/demo-arm64.toml on the arm64 Debian cloud image fixture, as
/// [`demo_recipe`] makes the x64 one.
pub fn demo_arm64_recipe() -> String {
    shipped_demo(
        "recipes/demo-arm64.toml",
        "arm64-cloud-image.sh",
        "debian-cloud-arm64.qcow2",
    )
}

/// A shipped demo recipe on a fixture image (by absolute path and digest),
/// its template by absolute path, storing into `images` beside it.
fn shipped_demo(recipe: &str, fixture_script: &str, base: &str) -> String {
    let image = fixture(fixture_script);
    let recipe = std::fs::read_to_string(repo().join(recipe))
        .unwrap()
        .replace(
            "../templates/demo.sh.tera",
            &repo().join("templates/demo.sh.tera").display().to_string(),
        )
        .replace(
            "../templates/demo-checks.sh.tera",
            &repo()
                .join("templates/demo-checks.sh.tera")
                .display()
                .to_string(),
        )
        .replace(
            &format!("url = \"demo-base/{base}\"\nsha256sums = \"demo-base/SHA256SUMS\"\n"),
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

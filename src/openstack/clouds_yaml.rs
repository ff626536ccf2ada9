//! Finding and reading `clouds.yaml` the way openstacksdk
//! (`openstack/config/loader.py`) does:
//!
//! - candidates, in order: `$OS_CLIENT_CONFIG_FILE`, then `clouds.yaml`,
//!   `clouds.yml`, `clouds.json` in each of: the working directory,
//!   `$XDG_CONFIG_HOME/openstack` (default `~/.config/openstack`),
//!   `~/.config/openstack` (`$SNAP_REAL_HOME/.config/openstack` in a snap),
//!   `<each of $XDG_CONFIG_DIRS>/openstack` (default `/etc/xdg/openstack`),
//!   `/etc/openstack`;
//! - the FIRST candidate that exists and reads is the configuration: files
//!   are not merged with each other (an unreadable or unparsable file is
//!   skipped, as openstacksdk does with a warning);
//! - `secure.yaml` (`$OS_CLIENT_SECURE_FILE`, then the same directories and
//!   suffixes) is found the same way and deep-merged over it, so passwords
//!   can live apart from the rest;
//! - `clouds-public.yaml` (same directories) holds vendor profiles that a
//!   cloud names with `profile:`.

use super::{CloudsFileError, ConfigEnv};
use crate::files::{MAX_TEXT_BYTES, RegularFile};
use crate::output::Scrubber;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

const SUFFIXES: [&str; 3] = [".yaml", ".yml", ".json"];

/// The clouds configuration as found on this machine.
#[derive(Debug, Clone, Default)]
pub struct CloudsYaml {
    clouds: Map<String, Value>,
    public_clouds: Map<String, Value>,
    /// The clouds file in use, if any was found.
    pub clouds_file: Option<PathBuf>,
    /// The secure file merged over it, if any.
    pub secure_file: Option<PathBuf>,
    /// The directories searched, in order (for messages).
    pub searched: Vec<PathBuf>,
    /// Files that exist but were skipped, with why.
    pub problems: Vec<String>,
}

impl CloudsYaml {
    /// Find and read the files; never fails (what went wrong is in `problems`).
    pub fn load(env: &ConfigEnv) -> Self {
        let dirs = search_dirs(env);
        let mut problems = Vec::new();
        let clouds_candidates = candidates(&dirs, "clouds", env.var("OS_CLIENT_CONFIG_FILE"));
        let secure_candidates = candidates(&dirs, "secure", env.var("OS_CLIENT_SECURE_FILE"));
        let public_candidates = candidates(&dirs, "clouds-public", None);

        let (clouds_file, mut doc) = first_readable(&clouds_candidates, &mut problems)
            .map_or((None, Value::Null), |(p, v)| (Some(p), v));
        let secure = first_readable(&secure_candidates, &mut problems);
        let secure_file = secure.as_ref().map(|(p, _)| p.clone());
        if let Some((path, secure)) = secure {
            if secure.is_object() {
                if !doc.is_object() {
                    doc = Value::Object(Map::new());
                }
                doc = merge(doc, secure);
            } else if !secure.is_null() {
                problems.push(format!("skipped {}: not a mapping", path.display()));
            }
        }
        if let Some(path) = &clouds_file
            && !doc.is_object()
            && !doc.is_null()
        {
            problems.push(format!("{}: not a mapping", path.display()));
        }
        let clouds = match doc.get("clouds") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let public_clouds = first_readable(&public_candidates, &mut problems)
            .and_then(|(_, v)| match v.get("public-clouds") {
                Some(Value::Object(m)) => Some(m.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let mut searched = Vec::new();
        if let Some(f) = env.var("OS_CLIENT_CONFIG_FILE") {
            searched.push(PathBuf::from(f));
        }
        searched.extend(dirs);
        Self {
            clouds,
            public_clouds,
            clouds_file,
            secure_file,
            searched,
            problems,
        }
    }

    /// From a document in memory (tests, and `envvars`).
    pub fn from_value(doc: &Value) -> Self {
        Self {
            clouds: match doc.get("clouds") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            },
            ..Self::default()
        }
    }

    pub fn cloud_names(&self) -> Vec<&str> {
        self.clouds.keys().map(String::as_str).collect()
    }

    /// A cloud's raw entry.
    pub fn cloud(&self, name: &str) -> Option<&Value> {
        self.clouds.get(name)
    }

    /// A vendor profile from `clouds-public.yaml`.
    pub fn public_cloud(&self, name: &str) -> Option<&Value> {
        self.public_clouds.get(name)
    }

    /// The files a cloud's settings came from: `/a/clouds.yaml` or
    /// `/a/clouds.yaml and /b/secure.yaml`.
    pub fn files(&self) -> String {
        let files: Vec<String> = [&self.clouds_file, &self.secure_file]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        if files.is_empty() {
            "no file".to_owned()
        } else {
            files.join(" and ")
        }
    }

    /// Which files were read, for messages: `read /a/clouds.yaml and
    /// /a/secure.yaml`, or where none was found.
    pub fn describe_sources(&self) -> String {
        let mut text = match (&self.clouds_file, &self.secure_file) {
            (Some(c), Some(s)) => format!("read {} and {}", c.display(), s.display()),
            (Some(c), None) => format!("read {}", c.display()),
            (None, Some(s)) => format!("no clouds.yaml found; read {}", s.display()),
            (None, None) => format!(
                "no clouds.yaml found (looked in {})",
                self.searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        for problem in &self.problems {
            text.push_str("; ");
            text.push_str(problem);
        }
        text
    }
}

/// Directories searched, in openstacksdk's order, without repeats.
fn search_dirs(env: &ConfigEnv) -> Vec<PathBuf> {
    let mut dirs = vec![env.cwd.clone()];
    let home_config = env.home.as_ref().map(|h| h.join(".config"));
    match env.var("XDG_CONFIG_HOME").filter(|v| !v.trim().is_empty()) {
        Some(xdg) => dirs.push(Path::new(xdg).join("openstack")),
        None => dirs.extend(home_config.as_ref().map(|c| c.join("openstack"))),
    }
    match env.var("SNAP_REAL_HOME") {
        Some(snap) => dirs.push(Path::new(snap).join(".config/openstack")),
        None => dirs.extend(home_config.map(|c| c.join("openstack"))),
    }
    let xdg_dirs = env
        .var("XDG_CONFIG_DIRS")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or("/etc/xdg");
    for dir in xdg_dirs.split(':').filter(|d| !d.is_empty()) {
        dirs.push(Path::new(dir).join("openstack"));
    }
    dirs.push(PathBuf::from("/etc/openstack"));
    let mut unique: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

fn candidates(dirs: &[PathBuf], stem: &str, first: Option<&str>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = first.map(PathBuf::from).into_iter().collect();
    for dir in dirs {
        for suffix in SUFFIXES {
            files.push(dir.join(format!("{stem}{suffix}")));
        }
    }
    files
}

/// The first candidate that exists and parses; the others that exist but
/// fail are noted in `problems`.
fn first_readable(candidates: &[PathBuf], problems: &mut Vec<String>) -> Option<(PathBuf, Value)> {
    for path in candidates {
        if !path.exists() {
            continue;
        }
        let text = match RegularFile::read_text(path, MAX_TEXT_BYTES) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("skipped {}: {e}", path.display()));
                continue;
            }
        };
        // Before parsing: an error about the file may quote a line of it.
        register_credential_lines(&text);
        match parse(path, &text) {
            Ok(value) => {
                register_credentials(&value);
                return Some((path.clone(), value));
            }
            Err(e) => problems.push(format!("skipped {}: {e}", path.display())),
        }
    }
    None
}

/// Keys whose values are credentials, in any cloud of any file read.
const CREDENTIAL_KEYS: [&str; 3] = ["password", "application_credential_secret", "token"];

/// Every credential in a parsed file, for the [`Scrubber`] (of every cloud,
/// not only the one used: any may be quoted).
fn register_credentials(value: &Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let key = key.replace('-', "_");
                match v {
                    Value::String(s) if CREDENTIAL_KEYS.contains(&key.as_str()) => {
                        Scrubber::global().register(s);
                    }
                    Value::Number(n) if CREDENTIAL_KEYS.contains(&key.as_str()) => {
                        Scrubber::global().register(&n.to_string());
                    }
                    _ => register_credentials(v),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(register_credentials),
        _ => {}
    }
}

/// `password: value` lines of a file that may not parse, for the
/// [`Scrubber`]: the value as written, and unquoted.
fn register_credential_lines(text: &str) {
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']).replace('-', "_");
        if !CREDENTIAL_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = value.trim().trim_end_matches(',').trim();
        Scrubber::global().register(value);
        Scrubber::global().register(value.trim_matches(['"', '\'']));
    }
}

/// JSON for `.json`, YAML otherwise; an empty file is `null`.
pub(super) fn parse(path: &Path, text: &str) -> Result<Value, CloudsFileError> {
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(text).map_err(|e| CloudsFileError::InvalidJson {
            message: e.to_string(),
        });
    }
    let meaningful = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    if !meaningful {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| CloudsFileError::InvalidYaml {
        message: e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    })
}

/// openstacksdk's `merge_clouds`: like `dict.update`, but nested mappings
/// are merged key by key.
pub(super) fn merge(old: Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (key, value) in new {
                let merged = match (old.remove(&key), value) {
                    (Some(prev @ Value::Object(_)), value @ Value::Object(_)) => merge(prev, value),
                    (_, value) => value,
                };
                old.insert(key, merged);
            }
            Value::Object(old)
        }
        (_, new) => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Dirs {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Dirs {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_path_buf();
            for d in ["cwd", "home", "etc-xdg", "other"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            Self { _tmp: tmp, root }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.root.join(rel)
        }

        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }

        /// Only the temp dirs: `/etc` is replaced through XDG_CONFIG_DIRS;
        /// `/etc/openstack` itself stays last (absent on test machines).
        fn env(&self) -> ConfigEnv {
            ConfigEnv::new(self.path("cwd"), Some(self.path("home")))
                .with_var("XDG_CONFIG_DIRS", self.path("etc-xdg").to_str().unwrap())
        }
    }

    fn cloud(name: &str, user: &str) -> String {
        format!(
            "clouds:\n  {name}:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: {user}\n"
        )
    }

    #[test]
    fn search_order_follows_openstacksdk() {
        let d = Dirs::new();
        let env = d
            .env()
            .with_var("XDG_CONFIG_HOME", d.path("xdg").to_str().unwrap());
        assert_eq!(
            search_dirs(&env),
            [
                d.path("cwd"),
                d.path("xdg/openstack"),
                d.path("home/.config/openstack"),
                d.path("etc-xdg/openstack"),
                PathBuf::from("/etc/openstack"),
            ]
        );
        // Without XDG_CONFIG_HOME the two home entries are one.
        assert_eq!(
            search_dirs(&d.env()),
            [
                d.path("cwd"),
                d.path("home/.config/openstack"),
                d.path("etc-xdg/openstack"),
                PathBuf::from("/etc/openstack"),
            ]
        );
    }

    #[test]
    fn the_first_file_found_wins_and_files_are_not_merged() {
        let d = Dirs::new();
        d.write("home/.config/openstack/clouds.yaml", &cloud("home", "h"));
        d.write("etc-xdg/openstack/clouds.yaml", &cloud("site", "s"));
        let c = CloudsYaml::load(&d.env());
        assert_eq!(c.cloud_names(), ["home"]);
        assert_eq!(
            c.clouds_file,
            Some(d.path("home/.config/openstack/clouds.yaml"))
        );

        // ./clouds.yaml comes before ~/.config.
        d.write("cwd/clouds.yaml", &cloud("here", "c"));
        assert_eq!(CloudsYaml::load(&d.env()).cloud_names(), ["here"]);
        // .yml counts too, after .yaml in the same directory.
        std::fs::remove_file(d.path("cwd/clouds.yaml")).unwrap();
        d.write("cwd/clouds.yml", &cloud("yml", "y"));
        assert_eq!(CloudsYaml::load(&d.env()).cloud_names(), ["yml"]);

        // OS_CLIENT_CONFIG_FILE comes first of all.
        let f = d.write("other/my-clouds.yaml", &cloud("env", "e"));
        let c = CloudsYaml::load(
            &d.env()
                .with_var("OS_CLIENT_CONFIG_FILE", f.to_str().unwrap()),
        );
        assert_eq!(c.cloud_names(), ["env"]);
        assert_eq!(c.clouds_file, Some(f));
    }

    #[test]
    fn a_missing_override_falls_through_to_the_search() {
        let d = Dirs::new();
        d.write("cwd/clouds.yaml", &cloud("here", "c"));
        let env = d.env().with_var(
            "OS_CLIENT_CONFIG_FILE",
            d.path("nope.yaml").to_str().unwrap(),
        );
        assert_eq!(CloudsYaml::load(&env).cloud_names(), ["here"]);
    }

    #[test]
    fn secure_yaml_is_deep_merged_over_clouds_yaml() {
        let d = Dirs::new();
        d.write(
            "cwd/clouds.yaml",
            "clouds:\n  prod:\n    region_name: R1\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n",
        );
        // A secure.yaml in another directory of the search path.
        d.write(
            "home/.config/openstack/secure.yaml",
            "clouds:\n  prod:\n    auth:\n      password: s3cret\n  extra:\n    auth:\n      password: x\n",
        );
        let c = CloudsYaml::load(&d.env());
        assert_eq!(
            c.cloud("prod").unwrap(),
            &json!({"region_name": "R1", "auth": {
                "auth_url": "http://127.0.0.1:1/v3", "username": "u", "password": "s3cret"}})
        );
        assert_eq!(
            c.secure_file,
            Some(d.path("home/.config/openstack/secure.yaml"))
        );
        assert_eq!(
            c.files(),
            format!(
                "{} and {}",
                d.path("cwd/clouds.yaml").display(),
                d.path("home/.config/openstack/secure.yaml").display()
            )
        );
        assert!(
            c.describe_sources().contains("secure.yaml"),
            "{}",
            c.describe_sources()
        );

        // OS_CLIENT_SECURE_FILE first.
        let s = d.write(
            "other/s.yaml",
            "clouds:\n  prod:\n    auth:\n      password: from-env\n",
        );
        let c = CloudsYaml::load(
            &d.env()
                .with_var("OS_CLIENT_SECURE_FILE", s.to_str().unwrap()),
        );
        assert_eq!(c.cloud("prod").unwrap()["auth"]["password"], "from-env");
    }

    #[test]
    fn unparsable_files_are_skipped_and_reported() {
        let d = Dirs::new();
        d.write("cwd/clouds.yaml", "clouds: [unclosed\n");
        d.write(
            "home/.config/openstack/clouds.json",
            r#"{"clouds": {"j": {}}}"#,
        );
        let c = CloudsYaml::load(&d.env());
        assert_eq!(c.cloud_names(), ["j"]);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(
            c.problems[0].starts_with(&format!("skipped {}", d.path("cwd/clouds.yaml").display()))
        );
        assert!(
            c.describe_sources().contains("invalid YAML"),
            "{}",
            c.describe_sources()
        );
    }

    #[test]
    fn every_credential_read_is_scrubbed_even_from_a_file_that_does_not_parse() {
        let d = Dirs::new();
        // Broken YAML: its error may quote the line.
        d.write(
            "cwd/clouds.yaml",
            "clouds:\n  a:\n    auth:\n      password: \"unit-broken-pw\"\n   bad: [\n",
        );
        d.write(
            "home/.config/openstack/clouds.yaml",
            "clouds:\n  b:\n    auth:\n      password: unit-other-pw\n  c:\n    auth:\n      application-credential-secret: unit-ac-secret\n",
        );
        d.write(
            "home/.config/openstack/secure.json",
            r#"{"clouds": {"b": {"auth": {"token": "unit-secure-token"}}}}"#,
        );
        let c = CloudsYaml::load(&d.env());
        assert_eq!(c.cloud_names(), ["b", "c"]);
        let scrubbed = Scrubber::global()
            .scrub("unit-broken-pw unit-other-pw unit-ac-secret unit-secure-token")
            .into_owned();
        assert_eq!(scrubbed, "******** ******** ******** ********");
    }

    #[test]
    fn nothing_found_says_where_it_looked() {
        let d = Dirs::new();
        let c = CloudsYaml::load(&d.env());
        assert!(c.cloud_names().is_empty());
        let text = c.describe_sources();
        assert!(
            text.starts_with("no clouds.yaml found (looked in "),
            "{text}"
        );
        assert!(
            text.contains(&d.path("cwd").display().to_string()),
            "{text}"
        );
        assert!(text.contains("/etc/openstack"), "{text}");
    }

    #[test]
    fn empty_and_comment_only_files_count_as_found_but_empty() {
        let d = Dirs::new();
        d.write("cwd/clouds.yaml", "# nothing yet\n");
        d.write("home/.config/openstack/clouds.yaml", &cloud("home", "h"));
        let c = CloudsYaml::load(&d.env());
        assert!(c.cloud_names().is_empty());
        assert_eq!(c.clouds_file, Some(d.path("cwd/clouds.yaml")));
    }

    #[test]
    fn vendor_profiles_come_from_clouds_public_yaml() {
        let d = Dirs::new();
        d.write(
            "etc-xdg/openstack/clouds-public.yaml",
            "public-clouds:\n  vendor:\n    auth:\n      auth_url: https://keystone.example/v3\n",
        );
        let c = CloudsYaml::load(&d.env());
        assert_eq!(
            c.public_cloud("vendor").unwrap()["auth"]["auth_url"],
            "https://keystone.example/v3"
        );
    }

    #[test]
    fn merge_is_recursive_for_mappings_only() {
        let merged = merge(
            json!({"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "s": "x"}),
            json!({"a": {"c": {"e": 3}}, "l": [3], "s": {"now": "map"}}),
        );
        assert_eq!(
            merged,
            json!({"a": {"b": 1, "c": {"d": 2, "e": 3}}, "l": [3], "s": {"now": "map"}})
        );
    }

    #[test]
    fn yaml_scalars_keep_their_types() {
        let v = parse(
            Path::new("x.yaml"),
            "clouds:\n  c:\n    verify: false\n    auth:\n      password: 1234\n      project_id: \"0042\"\n",
        )
        .unwrap();
        assert_eq!(v["clouds"]["c"]["verify"], json!(false));
        assert_eq!(v["clouds"]["c"]["auth"]["password"], json!(1234));
        assert_eq!(v["clouds"]["c"]["auth"]["project_id"], json!("0042"));
    }
}

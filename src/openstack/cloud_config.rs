//! One cloud of clouds.yaml, resolved as openstacksdk's `get_one` would:
//! vendor profile, first region, old key spellings (`tenant_name`,
//! `project-name`, `endpoint_type`, …), `domain_*` shorthands, values given
//! beside `auth:` instead of inside it, and the `envvars` cloud made from
//! `OS_*` variables.

use super::{CloudConfigError, CloudsYaml, ConfigEnv, Service};
use crate::output::{Scrubber, without_userinfo};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Password auth (`password`, `v3password`) or an application credential
/// (`v3applicationcredential`), project-scoped, against Keystone v3.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// The cloud's name in clouds.yaml.
    pub name: String,
    /// The files the settings came from, or `OS_* environment variables`.
    pub source: String,
    /// `password` or `v3applicationcredential`.
    pub auth_type: String,
    pub auth_url: String,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub password: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub application_credential_id: Option<String>,
    pub application_credential_name: Option<String>,
    pub application_credential_secret: Option<String>,
    /// `None`: any region (the first endpoint of the right interface).
    pub region_name: Option<String>,
    /// Endpoint interface of every service: `interface` (or
    /// `endpoint_type`), else `public`.
    pub interface: String,
    /// `<service>_interface` (`image_interface`, `compute_interface`):
    /// another interface for one service.
    pub service_interfaces: BTreeMap<String, String>,
    /// `<service>_endpoint_override`: use this URL instead of the catalog's.
    pub endpoint_overrides: BTreeMap<String, String>,
    /// `cacert`: a PEM bundle of the CAs to trust instead of the built-in roots.
    pub cacert: Option<PathBuf>,
    /// `verify: false` / `insecure: true` turn certificate checks off.
    pub verify: bool,
    /// `api_timeout` (seconds, as openstacksdk spells it; `OS_API_TIMEOUT`
    /// for the cloud of `OS_*` variables): how long one API call may take
    /// from connecting to the last byte of its answer, retries included.
    /// An image's data is bounded by progress instead (see
    /// [`Session`](super::Session)).
    pub api_timeout: Duration,
}

/// `api_timeout` when clouds.yaml does not set one (openstacksdk has none).
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) const SUPPORTED_AUTH_TYPES: &str = "password, v3password, v3applicationcredential";

impl CloudConfig {
    /// The cloud named `name` (or `$OS_CLOUD`, … when empty) from the
    /// files that `env` points at. Reads files only.
    pub fn resolve(name: &str, env: &ConfigEnv) -> Result<Self, CloudConfigError> {
        let cloud = Self::from_clouds(name, &CloudsYaml::load(env), env)?;
        cloud.register_credentials();
        Ok(cloud)
    }

    /// Tell the [`Scrubber`] this cloud's password, application-credential
    /// secret and the password in its `auth_url`'s userinfo, warning once
    /// about one too short to scrub.
    pub fn register_credentials(&self) {
        let scrubber = Scrubber::global();
        let of = |what: &str| format!("the {what} of cloud `{}`", self.name);
        if let Some(password) = &self.password {
            scrubber.register_credential(password, &of("password"));
        }
        if let Some(secret) = &self.application_credential_secret {
            scrubber.register_credential(secret, &of("application_credential_secret"));
        }
        for url in std::iter::once(&self.auth_url).chain(self.endpoint_overrides.values()) {
            if let Some((_, password)) = userinfo(url).and_then(|u| u.split_once(':')) {
                scrubber.register_credential(password, &of("password in a URL"));
            }
        }
    }

    pub fn from_clouds(
        name: &str,
        clouds: &CloudsYaml,
        env: &ConfigEnv,
    ) -> Result<Self, CloudConfigError> {
        let envvars_name = env.var("OS_CLOUD_NAME").unwrap_or("envvars");
        let envvars = envvars_cloud(env);
        let name = if !name.is_empty() {
            name.to_owned()
        } else if let Some(n) = env.var("OS_CLOUD") {
            n.to_owned()
        } else if envvars.is_some() {
            envvars_name.to_owned()
        } else if let [only] = clouds.cloud_names()[..] {
            only.to_owned()
        } else {
            return Err(CloudConfigError::NoneNamed {
                clouds: names(clouds),
                sources: clouds.describe_sources(),
            });
        };
        let (raw, source) = match (clouds.cloud(&name), &envvars) {
            (Some(_), Some(_)) if name == envvars_name => {
                return Err(CloudConfigError::NameClash {
                    file: clouds
                        .clouds_file
                        .as_ref()
                        .map_or("clouds.yaml".to_owned(), |p| p.display().to_string()),
                    name,
                });
            }
            (Some(raw), _) => (raw.clone(), clouds.files()),
            (None, Some(env_cloud)) if name == envvars_name => {
                (env_cloud.clone(), "OS_* environment variables".to_owned())
            }
            _ => {
                return Err(CloudConfigError::Unknown {
                    name,
                    clouds: names(clouds),
                    sources: clouds.describe_sources(),
                });
            }
        };
        let Value::Object(raw) = normalize_keys(raw) else {
            return Err(CloudConfigError::NotAMapping {
                name,
                origin: source,
            });
        };
        let config = expand(&name, raw, clouds)?;
        Self::from_map(&name, &source, config)
    }

    fn from_map(
        name: &str,
        source: &str,
        mut config: Map<String, Value>,
    ) -> Result<Self, CloudConfigError> {
        fix_backwards_auth(&mut config);
        handle_domain_id(&mut config);
        let auth = match config.get("auth") {
            Some(Value::Object(a)) => a.clone(),
            _ => Map::new(),
        };
        // A plugin option inside `auth:` wins over the same key beside it.
        let get = |key: &str| -> Option<String> {
            auth.get(key)
                .and_then(text)
                .or_else(|| config.get(key).and_then(text))
        };
        let top = |key: &str| config.get(key).and_then(text);

        if let Some(v) = top("identity_api_version")
            && (v == "2" || v.starts_with("2."))
        {
            return Err(CloudConfigError::IdentityV2 {
                name: name.to_owned(),
                origin: source.to_owned(),
                version: v,
            });
        }
        let auth_type = match top("auth_type").or_else(|| top("auth_plugin")).as_deref() {
            None | Some("password" | "v3password") => "password",
            Some("v3applicationcredential" | "applicationcredential") => "v3applicationcredential",
            Some(other) => {
                return Err(CloudConfigError::UnsupportedAuthType {
                    name: name.to_owned(),
                    origin: source.to_owned(),
                    auth_type: other.to_owned(),
                });
            }
        };
        let Some(auth_url) = get("auth_url") else {
            return Err(CloudConfigError::Missing {
                name: name.to_owned(),
                origin: source.to_owned(),
                what: "no auth_url",
            });
        };
        let default_domain_id = get("default_domain_id");
        let default_domain_name = get("default_domain_name");
        let interface_of =
            |key: &str| top(key).or_else(|| top(&key.replace("interface", "endpoint_type")));
        let verify = match config.get("verify") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
            _ => true,
        } && !matches!(config.get("insecure").and_then(text).as_deref(), Some(v) if v.eq_ignore_ascii_case("true"));
        let api_timeout = match top("api_timeout") {
            None => DEFAULT_API_TIMEOUT,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| CloudConfigError::InvalidApiTimeout {
                    name: name.to_owned(),
                    origin: source.to_owned(),
                    value: v.clone(),
                })?,
        };
        let cloud = CloudConfig {
            name: name.to_owned(),
            source: source.to_owned(),
            auth_type: auth_type.to_owned(),
            auth_url,
            username: get("username").or_else(|| get("user_name")),
            user_id: get("user_id"),
            user_domain_name: get("user_domain_name").or_else(|| default_domain_name.clone()),
            user_domain_id: get("user_domain_id").or_else(|| default_domain_id.clone()),
            password: get("password"),
            project_name: get("project_name"),
            project_id: get("project_id"),
            project_domain_name: get("project_domain_name").or(default_domain_name),
            project_domain_id: get("project_domain_id").or(default_domain_id),
            application_credential_id: get("application_credential_id"),
            application_credential_name: get("application_credential_name"),
            application_credential_secret: get("application_credential_secret"),
            region_name: top("region_name"),
            interface: interface_of("interface").unwrap_or_else(|| "public".to_owned()),
            service_interfaces: Service::ALL
                .iter()
                .filter_map(|s| {
                    let kind = s.catalog_type();
                    Some((kind.to_owned(), interface_of(&format!("{kind}_interface"))?))
                })
                .collect(),
            endpoint_overrides: Service::ALL
                .iter()
                .filter_map(|s| {
                    let kind = s.catalog_type();
                    Some((kind.to_owned(), top(&format!("{kind}_endpoint_override"))?))
                })
                .collect(),
            cacert: top("cacert").map(|p| expand_home(&p)),
            verify,
            api_timeout,
        };
        if let Some(what) = cloud.missing() {
            return Err(CloudConfigError::Missing {
                name: name.to_owned(),
                origin: source.to_owned(),
                what,
            });
        }
        Ok(cloud)
    }

    /// What Keystone needs and this cloud lacks, before anything is sent.
    fn missing(&self) -> Option<&'static str> {
        if self.auth_type == "v3applicationcredential" {
            if self.application_credential_secret.is_none() {
                return Some("no application_credential_secret");
            }
            if self.application_credential_id.is_none()
                && (self.application_credential_name.is_none()
                    || (self.user_id.is_none() && self.username.is_none()))
            {
                return Some(
                    "an application credential needs application_credential_id, or application_credential_name and the user",
                );
            }
            return None;
        }
        if self.username.is_none() && self.user_id.is_none() {
            return Some("no username or user_id");
        }
        if self.password.is_none() {
            return Some(
                "no password (put it in clouds.yaml or secure.yaml: pipeline never prompts)",
            );
        }
        if self.project_id.is_none() && self.project_name.is_none() {
            return Some("no project_name or project_id: uploads need a project-scoped token");
        }
        None
    }

    /// The endpoint interface for `service`.
    pub fn interface_for(&self, service: Service) -> &str {
        self.service_interfaces
            .get(service.catalog_type())
            .unwrap_or(&self.interface)
    }

    /// Who authenticates, for messages: `ci-user`, a user id, or the
    /// application credential.
    pub fn user_label(&self) -> String {
        if self.auth_type == "v3applicationcredential" {
            let cred = self
                .application_credential_id
                .as_deref()
                .or(self.application_credential_name.as_deref())
                .unwrap_or_default();
            return format!("application credential {cred}");
        }
        self.username
            .clone()
            .or_else(|| self.user_id.clone())
            .unwrap_or_default()
    }

    /// Where this cloud's images are, to tell two cloud names that are one
    /// place apart: Keystone, project (by id, or by name in its domain; for
    /// an application credential, the credential's, which fixes it) and
    /// region.
    pub fn project_place(&self) -> String {
        let project = match (&self.project_id, &self.project_name) {
            (Some(id), _) => format!("project {id}"),
            (None, Some(name)) => format!(
                "project {name} in domain {}",
                self.project_domain_id
                    .as_deref()
                    .or(self.project_domain_name.as_deref())
                    .unwrap_or("default")
            ),
            (None, None) => format!(
                "the project of application credential {}",
                self.application_credential_id
                    .as_deref()
                    .or(self.application_credential_name.as_deref())
                    .unwrap_or_default()
            ),
        };
        format!(
            "{}, {project}, region {}",
            self.identity_url(),
            self.region_name.as_deref().unwrap_or("(any)")
        )
    }

    /// The Keystone v3 base URL: `auth_url` as written when it ends in a
    /// version (`…/v3`), else with `/v3` appended (pipeline does not do
    /// version discovery).
    pub fn identity_url(&self) -> String {
        let url = self.auth_url.trim_end_matches('/');
        let last = url.rsplit('/').next().unwrap_or_default();
        if last.starts_with("v3") {
            url.to_owned()
        } else {
            format!("{url}/v3")
        }
    }
}

impl fmt::Debug for CloudConfig {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("CloudConfig")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("auth_type", &self.auth_type)
            .field("auth_url", &without_userinfo(&self.auth_url))
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("user_domain_name", &self.user_domain_name)
            .field("user_domain_id", &self.user_domain_id)
            .field("password", &hidden(&self.password))
            .field("project_name", &self.project_name)
            .field("project_id", &self.project_id)
            .field("project_domain_name", &self.project_domain_name)
            .field("project_domain_id", &self.project_domain_id)
            .field("application_credential_id", &self.application_credential_id)
            .field(
                "application_credential_name",
                &self.application_credential_name,
            )
            .field(
                "application_credential_secret",
                &hidden(&self.application_credential_secret),
            )
            .field("region_name", &self.region_name)
            .field("interface", &self.interface)
            .field("service_interfaces", &self.service_interfaces)
            .field("endpoint_overrides", &self.endpoint_overrides)
            .field("cacert", &self.cacert)
            .field("verify", &self.verify)
            .field("api_timeout", &self.api_timeout)
            .finish()
    }
}

/// Vendor profile below, the first region's values above.
fn expand(
    name: &str,
    raw: Map<String, Value>,
    clouds: &CloudsYaml,
) -> Result<Map<String, Value>, CloudConfigError> {
    let mut config = Map::new();
    let profile = raw
        .get("profile")
        .or_else(|| raw.get("cloud"))
        .and_then(text);
    if let Some(profile) = profile {
        match clouds.public_cloud(&profile) {
            Some(Value::Object(p)) => {
                if let Value::Object(p) = normalize_keys(Value::Object(p.clone())) {
                    auth_update(&mut config, p);
                }
            }
            _ => {
                return Err(CloudConfigError::UnknownProfile {
                    name: name.to_owned(),
                    profile,
                });
            }
        }
    }
    auth_update(&mut config, raw);
    config.remove("profile");
    config.remove("cloud");

    let first_region = match config.remove("regions") {
        Some(Value::Array(regions)) => regions.into_iter().next(),
        _ => match config.get("region_name") {
            Some(Value::String(s)) => s
                .split(',')
                .next()
                .map(|r| Value::String(r.trim().to_owned())),
            Some(Value::Array(list)) => list.first().cloned(),
            _ => None,
        },
    };
    match first_region {
        Some(Value::String(region)) => {
            config.insert("region_name".into(), Value::String(region));
        }
        Some(Value::Object(region)) => {
            let Some(region_name) = region.get("name").and_then(text) else {
                return Err(CloudConfigError::RegionWithoutName {
                    name: name.to_owned(),
                });
            };
            if let Some(Value::Object(values)) = region.get("values")
                && let Value::Object(values) = normalize_keys(Value::Object(values.clone()))
            {
                auth_update(&mut config, values);
            }
            config.insert("region_name".into(), Value::String(region_name));
        }
        _ => {
            config.remove("region_name");
        }
    }
    Ok(config)
}

/// openstacksdk's `_auth_update`: keys replace, except `auth`, which is
/// updated key by key.
fn auth_update(config: &mut Map<String, Value>, new: Map<String, Value>) {
    for (key, value) in new {
        match (key.as_str(), config.get_mut(&key), value) {
            ("auth", Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
            (_, _, value) => {
                config.insert(key, value);
            }
        }
    }
}

/// openstacksdk's `_fix_backwards_auth`: old names become the v3 ones and
/// land inside `auth`; a value beside `auth` beats one inside it.
fn fix_backwards_auth(config: &mut Map<String, Value>) {
    let mappings: [(&str, &[&str]); 8] = [
        ("domain_id", &["domain_id"]),
        ("domain_name", &["domain_name"]),
        ("user_domain_id", &["user_domain_id"]),
        ("user_domain_name", &["user_domain_name"]),
        ("project_domain_id", &["project_domain_id"]),
        ("project_domain_name", &["project_domain_name"]),
        ("project_id", &["tenant_id", "project_id"]),
        ("project_name", &["tenant_name", "project_name"]),
    ];
    let mut auth = match config.remove("auth") {
        Some(Value::Object(a)) => a,
        _ => Map::new(),
    };
    for (target, keys) in mappings {
        let mut found = None;
        for key in keys {
            if let Some(v) = auth.remove(*key) {
                found = text(&v);
            }
            if let Some(v) = config.remove(*key) {
                found = text(&v);
            }
        }
        if let Some(v) = found {
            auth.insert(target.to_owned(), Value::String(v));
        }
    }
    config.insert("auth".into(), Value::Object(auth));
}

/// openstacksdk's `_handle_domain_id`: with a project scope, `domain_id` /
/// `domain_name` stand for both the user's and the project's domain.
fn handle_domain_id(config: &mut Map<String, Value>) {
    let Some(Value::Object(auth)) = config.get_mut("auth") else {
        return;
    };
    let scoped = auth.contains_key("project_id") || auth.contains_key("project_name");
    if !scoped {
        return;
    }
    for (shorthand, targets) in [
        ("domain_id", ["user_domain_id", "project_domain_id"]),
        ("domain_name", ["user_domain_name", "project_domain_name"]),
    ] {
        if let Some(value) = auth.remove(shorthand) {
            for t in targets {
                auth.entry(t).or_insert_with(|| value.clone());
            }
        }
    }
}

/// The cloud openstacksdk makes from `OS_*` variables, when there are any
/// besides the ones that only select (`OS_CLOUD`, `OS_REGION_NAME`, …).
fn envvars_cloud(env: &ConfigEnv) -> Option<Value> {
    const SELECTORS: [&str; 5] = [
        "OS_CLOUD",
        "OS_REGION_NAME",
        "OS_CLIENT_CONFIG_FILE",
        "OS_CLIENT_SECURE_FILE",
        "OS_CLOUD_NAME",
    ];
    let vars: Vec<(&str, &str)> = env
        .os_vars()
        .filter(|(k, _)| {
            !["OS_TEST", "OS_STD", "OS_LOG"]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .collect();
    if vars.iter().all(|(k, _)| SELECTORS.contains(k)) {
        return None;
    }
    let map: Map<String, Value> = vars
        .into_iter()
        .map(|(k, v)| {
            (
                k["OS_".len()..].to_ascii_lowercase(),
                Value::String(v.to_owned()),
            )
        })
        .collect();
    Some(Value::Object(map))
}

/// `-` becomes `_` in every key, as openstacksdk's `normalize_keys`.
fn normalize_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('-', "_"), normalize_keys(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A scalar as text (YAML may make a password or a project id a number).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `user:password` of a URL, if it has any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    Some(&authority[..authority.rfind('@')?])
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn names(clouds: &CloudsYaml) -> Vec<String> {
    clouds
        .cloud_names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clouds(doc: Value) -> CloudsYaml {
        CloudsYaml::from_value(&doc)
    }

    fn env() -> ConfigEnv {
        ConfigEnv::new("/nonexistent", None)
    }

    fn rig_cloud() -> Value {
        json!({
            "auth": {
                "auth_url": "http://127.0.0.1:5000/v3",
                "username": "ci-user",
                "password": "ci-password",
                "project_name": "ci",
                "user_domain_name": "Default",
                "project_domain_name": "Default"
            },
            "region_name": "RegionOne",
            "interface": "public",
            "identity_api_version": 3
        })
    }

    #[test]
    fn a_plain_password_cloud() {
        let c =
            CloudConfig::from_clouds("a", &clouds(json!({"clouds": {"a": rig_cloud()}})), &env())
                .unwrap();
        assert_eq!(c.auth_type, "password");
        assert_eq!(c.auth_url, "http://127.0.0.1:5000/v3");
        assert_eq!(c.username.as_deref(), Some("ci-user"));
        assert_eq!(c.password.as_deref(), Some("ci-password"));
        assert_eq!(c.project_name.as_deref(), Some("ci"));
        assert_eq!(c.user_domain_name.as_deref(), Some("Default"));
        assert_eq!(c.project_domain_name.as_deref(), Some("Default"));
        assert_eq!(c.region_name.as_deref(), Some("RegionOne"));
        assert_eq!(c.interface, "public");
        assert!(c.verify);
        let debug = format!("{c:?}");
        assert!(!debug.contains("ci-password"), "{debug}");
    }

    #[test]
    fn unknown_cloud_lists_the_clouds_and_files() {
        let mut c = clouds(json!({"clouds": {"b": rig_cloud(), "a": rig_cloud()}}));
        c.clouds_file = Some(PathBuf::from("/x/clouds.yaml"));
        let err = CloudConfig::from_clouds("prod", &c, &env()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown cloud `prod`: clouds found: `a`, `b` (read /x/clouds.yaml)"
        );
        let err = CloudConfig::from_clouds("prod", &clouds(json!({})), &env()).unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::Unknown { clouds, .. } if clouds.is_empty()),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("unknown cloud `prod`: no clouds are defined (no clouds.yaml found"),
            "{err}"
        );
    }

    #[test]
    fn os_cloud_is_the_default_and_a_single_cloud_is_used_alone() {
        let two = clouds(json!({"clouds": {"a": rig_cloud(), "b": rig_cloud()}}));
        let c = CloudConfig::from_clouds("", &two, &env().with_var("OS_CLOUD", "b")).unwrap();
        assert_eq!(c.name, "b");
        let err = CloudConfig::from_clouds("", &two, &env()).unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::NoneNamed { clouds, .. } if clouds == &["a", "b"]),
            "{err:?}"
        );
        let one = clouds(json!({"clouds": {"only": rig_cloud()}}));
        assert_eq!(
            CloudConfig::from_clouds("", &one, &env()).unwrap().name,
            "only"
        );
        // A named cloud is used even when OS_CLOUD says otherwise.
        let c = CloudConfig::from_clouds("a", &two, &env().with_var("OS_CLOUD", "b")).unwrap();
        assert_eq!(c.name, "a");
    }

    #[test]
    fn old_spellings_and_values_beside_auth() {
        let cloud = json!({
            "auth": {"auth-url": "https://k.example:5000", "tenant-name": "old", "user_name": "u", "password": 1234},
            "project_name": "new",
            "domain-name": "D",
            "endpoint_type": "internalURL",
            "region_name": "R1,R2",
            "verify": false
        });
        let c = CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
            .unwrap();
        assert_eq!(c.auth_url, "https://k.example:5000");
        assert_eq!(c.identity_url(), "https://k.example:5000/v3");
        // Beside `auth` beats inside it; project_name beats tenant_name.
        assert_eq!(c.project_name.as_deref(), Some("new"));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("1234"));
        // domain_name stands for both domains when project-scoped.
        assert_eq!(c.user_domain_name.as_deref(), Some("D"));
        assert_eq!(c.project_domain_name.as_deref(), Some("D"));
        assert_eq!(c.interface, "internalURL");
        assert_eq!(c.region_name.as_deref(), Some("R1"));
        assert!(!c.verify);
    }

    #[test]
    fn regions_list_first_entry_and_its_values() {
        let mut cloud = rig_cloud();
        cloud["regions"] = json!([{"name": "R9", "values": {"interface": "internal"}}, "R2"]);
        let c = CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
            .unwrap();
        assert_eq!(c.region_name.as_deref(), Some("R9"));
        assert_eq!(c.interface, "internal");
    }

    #[test]
    fn a_region_needs_a_name_and_the_envvars_name_is_taken() {
        let mut cloud = rig_cloud();
        cloud["regions"] = json!([{"values": {"interface": "internal"}}]);
        let err = CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
            .unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::RegionWithoutName { name } if name == "c"),
            "{err:?}"
        );
        let e = env().with_var("OS_AUTH_URL", "http://k:5000/v3");
        let both = clouds(json!({"clouds": {"envvars": rig_cloud()}}));
        let err = CloudConfig::from_clouds("envvars", &both, &e).unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::NameClash { name, .. } if name == "envvars"),
            "{err:?}"
        );
    }

    #[test]
    fn ids_instead_of_names_and_default_domains() {
        let cloud = json!({"auth": {
            "auth_url": "http://k/identity/v3/", "user_id": "u1", "password": "p",
            "project_id": "p1", "default_domain_id": "default"}});
        let c = CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
            .unwrap();
        assert_eq!(c.user_id.as_deref(), Some("u1"));
        assert_eq!(c.project_id.as_deref(), Some("p1"));
        assert_eq!(c.user_domain_id.as_deref(), Some("default"));
        assert_eq!(c.identity_url(), "http://k/identity/v3");
        assert_eq!(c.user_label(), "u1");
    }

    #[test]
    fn missing_pieces_are_named() {
        let check = |auth: Value, expected: &str| {
            let err = CloudConfig::from_clouds(
                "c",
                &clouds(json!({"clouds": {"c": {"auth": auth}}})),
                &env(),
            )
            .unwrap_err();
            assert!(
                matches!(&err, CloudConfigError::Missing { name, what, .. } if name == "c" && what.starts_with(expected)),
                "{err:?}"
            );
        };
        check(
            json!({"username": "u", "password": "p", "project_name": "x"}),
            "no auth_url",
        );
        check(
            json!({"auth_url": "http://k", "password": "p", "project_name": "x"}),
            "no username or user_id",
        );
        check(
            json!({"auth_url": "http://k", "username": "u", "project_name": "x"}),
            "no password",
        );
        check(
            json!({"auth_url": "http://k", "username": "u", "password": "p"}),
            "no project_name or project_id",
        );
        let err = CloudConfig::from_clouds(
            "c",
            &clouds(
                json!({"clouds": {"c": {"auth_type": "token", "auth": {"auth_url": "http://k"}}}}),
            ),
            &env(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::UnsupportedAuthType { auth_type, .. } if auth_type == "token"),
            "{err:?}"
        );
        let err = CloudConfig::from_clouds(
            "c",
            &clouds(json!({"clouds": {"c": {"identity_api_version": "2.0", "auth": {"auth_url": "http://k"}}}})),
            &env(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::IdentityV2 { version, .. } if version == "2.0"),
            "{err:?}"
        );
    }

    #[test]
    fn api_timeout_in_seconds() {
        let with = |value: Value| {
            let mut cloud = rig_cloud();
            cloud["api_timeout"] = value;
            CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
        };
        assert_eq!(
            CloudConfig::from_clouds("a", &clouds(json!({"clouds": {"a": rig_cloud()}})), &env())
                .unwrap()
                .api_timeout,
            DEFAULT_API_TIMEOUT
        );
        assert_eq!(with(json!(5)).unwrap().api_timeout, Duration::from_secs(5));
        assert_eq!(
            with(json!("2.5")).unwrap().api_timeout,
            Duration::from_millis(2500)
        );
        for bad in [json!(0), json!(-1), json!("soon"), json!(1e9)] {
            let err = with(bad.clone()).unwrap_err();
            assert!(
                matches!(err, CloudConfigError::InvalidApiTimeout { .. }),
                "{bad}: {err:?}"
            );
        }
        let e = env()
            .with_var("OS_AUTH_URL", "http://k:5000/v3")
            .with_var("OS_USERNAME", "u")
            .with_var("OS_PASSWORD", "p")
            .with_var("OS_PROJECT_NAME", "pr")
            .with_var("OS_API_TIMEOUT", "7");
        let c = CloudConfig::from_clouds("envvars", &clouds(json!({})), &e).unwrap();
        assert_eq!(c.api_timeout, Duration::from_secs(7));
    }

    #[test]
    fn application_credentials() {
        let cloud = json!({"auth_type": "v3applicationcredential", "auth": {
            "auth_url": "http://k/v3", "application_credential_id": "ac1",
            "application_credential_secret": "s"}});
        let c = CloudConfig::from_clouds("c", &clouds(json!({"clouds": {"c": cloud}})), &env())
            .unwrap();
        assert_eq!(c.auth_type, "v3applicationcredential");
        assert_eq!(c.user_label(), "application credential ac1");
    }

    #[test]
    fn the_envvars_cloud() {
        let e = env()
            .with_var("OS_AUTH_URL", "http://k:5000/v3")
            .with_var("OS_USERNAME", "u")
            .with_var("OS_PASSWORD", "p")
            .with_var("OS_PROJECT_NAME", "pr")
            .with_var("OS_USER_DOMAIN_NAME", "Default")
            .with_var("OS_PROJECT_DOMAIN_NAME", "Default")
            .with_var("OS_REGION_NAME", "R")
            .with_var("OS_INTERFACE", "internal");
        let c = CloudConfig::from_clouds("envvars", &clouds(json!({})), &e).unwrap();
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.region_name.as_deref(), Some("R"));
        assert_eq!(c.interface, "internal");
        assert_eq!(c.source, "OS_* environment variables");
        // With no name and no OS_CLOUD, the variables are the cloud.
        assert_eq!(
            CloudConfig::from_clouds("", &clouds(json!({})), &e)
                .unwrap()
                .name,
            "envvars"
        );
        // Selectors alone make no cloud.
        let only_selector = env().with_var("OS_REGION_NAME", "R");
        assert!(matches!(
            CloudConfig::from_clouds("envvars", &clouds(json!({})), &only_selector),
            Err(CloudConfigError::Unknown { .. })
        ));
    }

    #[test]
    fn vendor_profile_from_clouds_public() {
        let mut c = clouds(json!({"clouds": {"v": {"profile": "acme", "auth": {
            "username": "u", "password": "p", "project_name": "x"}}}}));
        let err = CloudConfig::from_clouds("v", &c, &env()).unwrap_err();
        assert!(
            matches!(&err, CloudConfigError::UnknownProfile { profile, .. } if profile == "acme"),
            "{err:?}"
        );
        let public = json!({"auth": {"auth_url": "https://acme/v3"}, "region_name": "AC1"});
        let doc = json!({"clouds": {"v": {"profile": "acme", "auth": {
            "username": "u", "password": "p", "project_name": "x"}}}});
        c = CloudsYaml::from_value(&doc);
        c = with_public(c, "acme", public);
        let resolved = CloudConfig::from_clouds("v", &c, &env()).unwrap();
        assert_eq!(resolved.auth_url, "https://acme/v3");
        assert_eq!(resolved.region_name.as_deref(), Some("AC1"));
        assert_eq!(resolved.username.as_deref(), Some("u"));
    }

    fn with_public(c: CloudsYaml, name: &str, profile: Value) -> CloudsYaml {
        // Through the files, as in real use.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cwd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("clouds-public.json"),
            serde_json::to_string(&json!({"public-clouds": {name: profile}})).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("clouds.json"),
            serde_json::to_string(&json!({"clouds": {"v": c.cloud("v").unwrap()}})).unwrap(),
        )
        .unwrap();
        let e = ConfigEnv::new(&dir, None)
            .with_var("XDG_CONFIG_DIRS", tmp.path().join("none").to_str().unwrap());
        CloudsYaml::load(&e)
    }
}

use super::SecretError;
use std::fmt;

/// Environment variables named `PIPELINE_SECRET_<NAME>` become secrets.
pub const SECRET_PREFIX: &str = "PIPELINE_SECRET_";

/// Secret values for the provisioning script. They are never printed:
/// `Debug` shows names only, and the loader registers every value with the
/// [`Scrubber`](crate::output::Scrubber), which every message passes
/// through.
#[derive(Clone, Default)]
pub struct Secrets(Vec<Secret>);

#[derive(Clone)]
pub struct Secret {
    /// Without the prefix, e.g. `GITHUB_TOKEN`.
    pub name: String,
    value: String,
}

impl Secret {
    /// The variable name in the guest's environment.
    pub fn env_name(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.name)
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

impl Secrets {
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SecretError> {
        let mut secrets = Vec::new();
        for (key, value) in vars {
            let Some(name) = key.strip_prefix(SECRET_PREFIX) else {
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(SecretError::BadName { var: key });
            }
            secrets.push(Secret {
                name: name.to_owned(),
                value,
            });
        }
        secrets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self(secrets))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.name.clone()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| &s.name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_never_shows_values() {
        let s = Secrets::from_vars([
            ("PIPELINE_SECRET_TOKEN".to_string(), "hunter2".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ])
        .unwrap();
        assert_eq!(s.names(), ["TOKEN"]);
        assert_eq!(s.iter().next().unwrap().value(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(
            Secrets::from_vars([("PIPELINE_SECRET_a-b".into(), "v".into())]),
            Err(SecretError::BadName { var }) if var == "PIPELINE_SECRET_a-b"
        ));
    }
}

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the clouds.yaml lookup reads from the process: environment
/// variables, the working directory and the home directory. A value of its
/// own so that tests pass theirs instead of changing the process's.
#[derive(Debug, Clone, Default)]
pub struct ConfigEnv {
    vars: BTreeMap<String, String>,
    /// `./clouds.yaml` is looked for here.
    pub cwd: PathBuf,
    /// `~`, for `~/.config/openstack`; `None` when unknown.
    pub home: Option<PathBuf>,
}

impl ConfigEnv {
    /// The running process's environment, working directory and `$HOME`.
    pub fn from_process() -> Self {
        let vars = std::env::vars().collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Self { vars, cwd, home }
    }

    /// No variables; `cwd` and `home` as given.
    pub fn new(cwd: impl Into<PathBuf>, home: Option<PathBuf>) -> Self {
        Self {
            vars: BTreeMap::new(),
            cwd: cwd.into(),
            home,
        }
    }

    pub fn with_var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// A variable's value; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every `OS_*` variable, by name.
    pub fn os_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(k, v)| k.starts_with("OS_") && !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

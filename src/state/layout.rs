use camino::{Utf8Path, Utf8PathBuf};

const CACHE_VAR: &str = "PIPELINE_CACHE_DIR";
const STATE_VAR: &str = "PIPELINE_STATE_DIR";

/// Where pipeline keeps things on this machine.
///
/// - cache (`$PIPELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/pipeline`, else
///   `~/.cache/pipeline`): verified base images by SHA-256, and per-run work
///   files (overlays, seeds, snapshots) that are removed when the run ends;
/// - state (`$PIPELINE_STATE_DIR`, else `$XDG_STATE_HOME/pipeline`, else
///   `~/.local/state/pipeline`): run directories with every step's log and
///   every VM's console, lock files, and which recipe file owns each name.
#[derive(Debug, Clone)]
pub struct Layout {
    pub cache: Utf8PathBuf,
    pub state: Utf8PathBuf,
}

impl Layout {
    pub fn from_env() -> Self {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let dir = |own: &str, xdg: &str, fallback: &str| -> Utf8PathBuf {
            if let Some(d) = non_empty_var(own) {
                return d.into();
            }
            match non_empty_var(xdg) {
                Some(d) => Utf8PathBuf::from(d).join("pipeline"),
                None => Utf8PathBuf::from(&home).join(fallback).join("pipeline"),
            }
        };
        Self {
            cache: dir(CACHE_VAR, "XDG_CACHE_HOME", ".cache"),
            state: dir(STATE_VAR, "XDG_STATE_HOME", ".local/state"),
        }
    }

    /// The environment that gives another process (a scheduled run) this
    /// layout, whatever its own HOME and XDG variables are.
    pub fn vars(&self) -> [(&'static str, &Utf8Path); 2] {
        [(CACHE_VAR, &self.cache), (STATE_VAR, &self.state)]
    }

    /// Verified base images, named by their SHA-256.
    pub fn bases(&self) -> Utf8PathBuf {
        self.cache.join("bases")
    }

    /// Scratch space of one run.
    pub fn work(&self, run_id: &str) -> Utf8PathBuf {
        self.cache.join("work").join(run_id)
    }

    /// Logs of one run of a recipe.
    pub fn run_dir(&self, recipe: &str, run_id: &str) -> Utf8PathBuf {
        self.state.join("runs").join(recipe).join(run_id)
    }

    pub fn locks(&self) -> Utf8PathBuf {
        self.state.join("locks")
    }

    /// `<name>.path`: the recipe file that owns a name (see `name_claim`).
    pub fn recipes(&self) -> Utf8PathBuf {
        self.state.join("recipes")
    }
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Create a directory and its parents, naming it in the error.
pub fn ensure_dir(dir: &Utf8Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("failed to create {dir}: {e}")))
}

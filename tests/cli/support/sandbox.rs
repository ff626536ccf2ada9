//! A private directory per test, with its own cache and state dirs, and
//! the checks that no VM of it outlives its run.

use super::pipeline;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A private directory with its own cache and state dirs, where a test
/// writes recipes and runs `pipeline` against them.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("pipeline-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `name`. A recipe (`*.toml`) comes with its directory stores
    /// made, as `pipeline init` makes them (the directory and its marker):
    /// a test about a store that is not there removes it.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        if name.ends_with(".toml") {
            make_stores(&p, text);
        }
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = pipeline(args);
        cmd.current_dir(self.path())
            .env("PIPELINE_CACHE_DIR", self.path().join("cache"))
            .env("PIPELINE_STATE_DIR", self.path().join("state"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The newest run directory, of any recipe.
    pub fn run_dir(&self) -> PathBuf {
        self.newest_run_dir().expect("a run directory")
    }

    fn newest_run_dir(&self) -> Option<PathBuf> {
        let runs = self.path().join("state/runs");
        let mut dirs = Vec::new();
        for recipe in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
            for run in std::fs::read_dir(recipe.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                dirs.push(run.path());
            }
        }
        // Run ids sort by start time (to the millisecond).
        dirs.sort_by_key(|d| d.file_name().map(|n| n.to_owned()));
        dirs.pop()
    }

    /// The newest run directory's `run.log`.
    pub fn run_log(&self) -> String {
        std::fs::read_to_string(self.run_dir().join("run.log")).unwrap()
    }

    /// The newest run's `run.log` as far as it is written; `None` before a
    /// run has started (for tests that watch a run in progress).
    pub fn run_log_so_far(&self) -> Option<String> {
        std::fs::read_to_string(self.newest_run_dir()?.join("run.log")).ok()
    }

    /// The names in a directory of the sandbox, sorted; none if it does
    /// not exist.
    pub fn entries(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path().join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Revision numbers present (with metadata) for an image name.
    pub fn revisions(&self, store: &str, image: &str) -> Vec<u64> {
        let dir = self.path().join(store).join(image);
        let mut revs: Vec<u64> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix(".json")?.parse().ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        revs.sort();
        revs
    }
}

/// Tests that boot VMs take turns: two cores do not run several at once well.
pub fn vm_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn assert_no_qemu_left(sb: &Sandbox) {
    // PR_SET_PDEATHSIG and process-group kills act at once; allow a moment.
    for _ in 0..20 {
        if live_qemus(sb.path()).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "qemu-system processes survived: {:?}",
        live_qemus(sb.path())
    );
}

/// Live (not zombie) `qemu-system-*` processes whose command line mentions
/// `dir` (a test's sandbox: other VMs on the machine are not ours).
pub fn live_qemus(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|x| x.1).unwrap_or_default();
        let state = rest.split_whitespace().next().unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let mine = String::from_utf8_lossy(&cmdline).contains(&dir);
        if comm.starts_with("qemu-system") && state != "Z" && mine {
            found.push(format!("{name} {comm}"));
        }
    }
    found
}

/// The directory stores of the recipe at `path` (its text), made with their
/// marker where they can be; a recipe that does not parse has none.
fn make_stores(path: &Path, text: &str) {
    let Ok(recipe) = text.parse::<toml::Table>() else {
        return;
    };
    let Some(targets) = recipe.get("target").and_then(|t| t.as_array()) else {
        return;
    };
    for target in targets {
        if target.get("kind").and_then(|k| k.as_str()) != Some("directory") {
            continue;
        }
        let Some(store) = target.get("path").and_then(|p| p.as_str()) else {
            continue;
        };
        let store = path.parent().unwrap().join(store);
        if std::fs::create_dir_all(&store).is_ok() {
            let _ = std::fs::write(
                store.join(pipeline::targets::MARKER),
                "made by the tests, as pipeline init makes it\n",
            );
        }
    }
}

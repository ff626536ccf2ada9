//! The shell entry points (`./demo`, `tests/run`) on a host without a new
//! enough Rust: they stop first, say what to install, and run nothing else
//! (no package, fixture or build work).

use crate::support::{repo, stderr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A host that has bash and dirname and nothing else on PATH, plus the
/// fake cargo and rustc a test puts there. Every bash that starts, every
/// command it does not find and every fake tool run is written to a log.
struct BareHost {
    dir: tempfile::TempDir,
}

impl BareHost {
    fn new() -> BareHost {
        let dir = tempfile::Builder::new()
            .prefix("pipeline-bare-host-")
            .tempdir()
            .unwrap();
        let host = BareHost { dir };
        std::fs::create_dir_all(host.bin()).unwrap();
        std::fs::create_dir_all(host.home()).unwrap();
        for tool in ["bash", "dirname"] {
            std::os::unix::fs::symlink(on_path(tool), host.bin().join(tool)).unwrap();
        }
        std::fs::write(
            host.path().join("bash-env"),
            format!(
                "echo \"started $0\" >>{log}\n\
                 command_not_found_handle() {{ echo \"not found $1\" >>{log}; return 127; }}\n",
                log = host.log_path().display()
            ),
        )
        .unwrap();
        host
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    fn log_path(&self) -> PathBuf {
        self.path().join("log")
    }

    /// A fake `tool` in `dir` whose `--version` prints `version_line`. A
    /// `sh` script: a bash one would log its own start (BASH_ENV).
    fn fake_in(&self, dir: &Path, tool: &str, version_line: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let script = dir.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!{sh}\necho \"{tool} $*\" >>{log}\necho '{version_line}'\n",
                sh = on_path("sh").display(),
                log = self.log_path().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn fake(&self, tool: &str, version_line: &str) {
        self.fake_in(&self.bin(), tool, version_line);
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(repo())
            .env_clear()
            .env("PATH", self.bin())
            .env("HOME", self.home())
            .env("BASH_ENV", self.path().join("bash-env"));
        cmd
    }

    /// Run the repository's `script` (`demo`, `tests/run`) as a user would.
    fn run(&self, script: &str) -> Output {
        self.command(repo().join(script)).output().unwrap()
    }

    /// What ran, in order, with the temporary directory and the repository
    /// written as `[HOST]` and `[REPO]`.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(|line| self.redacted(line))
            .collect()
    }

    fn redacted(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "[HOST]")
            .replace(&repo().display().to_string(), "[REPO]")
    }
}

/// Where `tool` is on this test's PATH.
fn on_path(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} is on PATH"))
}

/// Cargo.toml's `rust-version`.
fn rust_version() -> String {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    manifest["package"]["rust-version"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_refused(host: &BareHost, script: &str, snapshot: &str, ran: &[&str]) {
    let o = host.run(script);
    let err = host.redacted(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{script}: {err}");
    assert!(o.stdout.is_empty(), "{script} printed to stdout");
    let mut expected = vec![format!("started [REPO]/{script}")];
    expected.extend(ran.iter().map(|line| line.to_string()));
    assert_eq!(host.log(), expected, "{script} ran more than the check");
    let min = regex::escape(&rust_version());
    insta::with_settings!({filters => vec![(min.as_str(), "[RUST-VERSION]")]}, {
        insta::assert_snapshot!(snapshot, err);
    });
}

#[test]
fn without_cargo_demo_and_tests_run_stop_first_and_say_to_install_rustup() {
    for script in ["demo", "tests/run"] {
        let host = BareHost::new();
        assert_refused(
            &host,
            script,
            &format!("{}-without-cargo", script.replace('/', "-")),
            &[],
        );
    }
}

#[test]
fn with_a_cargo_older_than_rust_version_they_stop_first_and_name_it() {
    for script in ["demo", "tests/run"] {
        // Debian 12's cargo and rustc.
        let host = BareHost::new();
        host.fake("cargo", "cargo 1.65.0");
        host.fake("rustc", "rustc 1.63.0");
        assert_refused(
            &host,
            script,
            &format!("{}-old-cargo", script.replace('/', "-")),
            &["cargo --version"],
        );
    }
}

#[test]
fn a_new_cargo_with_an_old_rustc_is_refused_too() {
    let host = BareHost::new();
    host.fake(
        "cargo",
        &format!("cargo {}.0 (0000000 2026-01-01)", rust_version()),
    );
    host.fake("rustc", "rustc 1.63.0");
    assert_refused(
        &host,
        "tests/run",
        "old-rustc",
        &["cargo --version", "rustc --version"],
    );
}

#[test]
fn with_rustup_installed_but_not_on_path_they_say_to_source_its_env() {
    let host = BareHost::new();
    host.fake_in(&host.home().join(".cargo/bin"), "cargo", "cargo 1.95.0");
    assert_refused(&host, "demo", "cargo-not-on-path", &[]);
}

#[test]
fn with_rustup_on_path_they_say_to_update() {
    let host = BareHost::new();
    host.fake("rustup", "rustup 1.28.2");
    host.fake("cargo", "cargo 1.80.1 (376290515 2024-07-16)");
    assert_refused(&host, "demo", "old-cargo-with-rustup", &["cargo --version"]);
}

/// The version comparison at its edge: exactly `rust-version` passes (and
/// the check then returns to the script), one minor release below does
/// not, and a later patch or nightly passes.
#[test]
fn the_check_passes_from_rust_version_on() {
    let min = rust_version();
    let (major, minor) = min.split_once('.').unwrap();
    let minor: u32 = minor.parse().unwrap();
    for (version, passes) in [
        (format!("{min}.0"), true),
        (format!("{min}.3"), true),
        (format!("{major}.{}.0-nightly", minor + 1), true),
        (format!("{major}.{}.0", minor + 10), true),
        (format!("{major}.{}.9", minor - 1), false),
        (format!("0.{}.0", minor + 1), false),
    ] {
        let host = BareHost::new();
        host.fake("cargo", &format!("cargo {version} (0000000 2026-01-01)"));
        host.fake("rustc", &format!("rustc {version} (0000000 2026-01-01)"));
        let o = host
            .command(on_path("bash"))
            .args(["-c", ". tests/require-rust.sh; echo checked"])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.success(), passes, "{version}: {}", stderr(&o));
        assert_eq!(out == "checked\n", passes, "{version}: {out}");
    }
}

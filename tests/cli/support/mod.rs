//! What the tests share: the `pipeline` command, [`Sandbox`] (a private
//! directory to run it in), the fixture images and the disk helpers, the
//! OpenStack [`Rig`], a loopback server that plays a misbehaving cloud
//! ([`Loopback`]), one recipe builder ([`Recipe`]), directory stores
//! written by hand ([`write_revision`]) and the redactions that make run
//! output fit for a snapshot ([`redacted`]).

mod deadline;
mod fixtures;
mod loopback;
mod mount;
mod recipes;
mod rig;
mod sandbox;
mod snapshot;
mod store_files;

pub use deadline::*;
pub use fixtures::*;
pub use loopback::*;
pub use mount::*;
pub use recipes::*;
pub use rig::*;
pub use sandbox::*;
pub use snapshot::*;
pub use store_files::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `pipeline` command run from the repository root, without colors or
/// secrets from the caller's environment.
pub fn pipeline(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.args(args).current_dir(repo()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("PIPELINE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `cmd` as cron runs it: by `sh -c`, here with a last line `exit status
/// N` on stdout, N as the shell saw it (128 + the signal that ended it).
pub fn as_cron_runs(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#""$0" "$@"; echo "exit status $?""#)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    sh
}

pub fn run(args: &[&str]) -> Output {
    pipeline(args).output().expect("pipeline runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// Run and expect success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "pipeline {args:?} failed: {}\n{}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

/// Run a shell script; it must succeed.
pub fn sh(script: &str) {
    let st = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(st.success(), "sh -c {script:?}: {st}");
}

/// Run `cmd` with `input` on its stdin; its output (stdout and stderr
/// captured), or why it did not start.
pub fn feed(cmd: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(input)?;
    child.wait_with_output()
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

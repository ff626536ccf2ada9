//! Interrupting `pipeline run` without booting a VM: runs caught while they
//! download their base from a loopback server that never finishes, or while
//! they wait for the lock; by SIGTERM (how systemd, `timeout` and `kill`
//! stop a run) and by SIGINT (Ctrl-C).

use crate::support::{
    Loopback, Recipe, Reply, Sandbox, as_cron_runs, redacted, run_summary, stderr,
};
use pipeline::targets::MARKER;
use rustix::process::{Pid, Signal};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback mirror whose downloads never end.
fn slow_mirror() -> Loopback {
    Loopback::start(|_, _| Reply::Download {
        every: Duration::from_millis(50),
    })
}

/// `slow.toml`: one cell whose base comes from `mirror` (its digest never
/// checked: no download of it ends).
fn slow_recipe(sb: &Sandbox, mirror: &Loopback) {
    Recipe::new("slow", "slow", "#!/bin/sh\necho ok\n")
        .base(format!("{}/slow.img", mirror.url()), &"0".repeat(64))
        .write(sb);
}

/// `pipeline run slow.toml`, on TCG (no KVM probe boots), straight to the
/// loopback server whatever proxy the environment names.
fn slow_run(sb: &Sandbox, extra: &[&str]) -> Command {
    let mut cmd = sb.command(&[&["run", "slow.toml"][..], extra].concat());
    cmd.env("PIPELINE_ACCEL", "tcg");
    for proxy in ["http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(proxy).env_remove(proxy.to_uppercase());
    }
    cmd
}

/// The run's lock file, once a run holds it.
fn lock_file(sb: &Sandbox) -> Option<PathBuf> {
    let name = sb.entries("state/locks").into_iter().next()?;
    Some(sb.path().join("state/locks").join(name))
}

/// The pid a run wrote into its lock.
fn lock_holder(sb: &Sandbox) -> Option<i32> {
    let text = std::fs::read_to_string(lock_file(sb)?).ok()?;
    text.strip_prefix("pid ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The partial files in the base cache, of any size.
fn partial_downloads(sb: &Sandbox) -> Vec<String> {
    sb.entries("cache/bases")
        .into_iter()
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

/// A download has begun: a partial file holds some of its bytes.
fn downloading(sb: &Sandbox) -> bool {
    let bases = sb.path().join("cache/bases");
    partial_downloads(sb)
        .iter()
        .any(|n| std::fs::metadata(bases.join(n)).is_ok_and(|m| m.len() > 0))
}

/// Wait until the run that holds the lock is downloading; its pid.
fn wait_for_download(sb: &Sandbox) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = lock_holder(sb)
            && downloading(sb)
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never started its download"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send(pid: i32, signal: Signal) {
    rustix::process::kill_process(Pid::from_raw(pid).unwrap(), signal).unwrap();
}

/// Nobody holds the lock any more.
fn lock_is_free(sb: &Sandbox) -> bool {
    let file = std::fs::File::open(lock_file(sb).expect("a lock file")).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

#[test]
fn a_signal_mid_download_removes_the_partial_file_frees_the_lock_and_ends_by_that_signal() {
    let mut seen = String::new();
    for (signal, name) in [(Signal::TERM, "SIGTERM"), (Signal::INT, "SIGINT")] {
        let mirror = slow_mirror();
        let sb = Sandbox::new();
        slow_recipe(&sb, &mirror);
        let child = as_cron_runs(&slow_run(&sb, &[]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = wait_for_download(&sb);
        let sent = Instant::now();
        send(pid, signal);
        let o = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        let err = stderr(&o);
        assert!(o.status.success(), "sh failed: {err}");
        assert!(took < Duration::from_secs(10), "{name} took {took:?}");
        // Nothing is left: no partial download, no scratch files, no image,
        // no lock held.
        assert_eq!(sb.entries("cache/bases"), Vec::<String>::new(), "{name}");
        assert_eq!(sb.entries("cache/work"), Vec::<String>::new(), "{name}");
        assert_eq!(sb.entries("images"), [MARKER], "{name}");
        assert!(lock_is_free(&sb), "{name}: the lock is still held");
        assert!(
            sb.run_log()
                .contains("interrupted: stopping every VM and removing partial files"),
            "{name}: {}",
            sb.run_log()
        );
        // What a cron log shows: the summary, and the shell's exit status.
        seen.push_str(&format!(
            "--- {name}\n{}{}",
            run_summary(&err),
            String::from_utf8(o.stdout).unwrap()
        ));
    }
    redacted().bind(|| insta::assert_snapshot!("run-signalled-mid-download", seen));
}

/// Before a run starts making anything (here, waiting for the lock with
/// `--wait`) there is nothing to clean up: a signal ends it at once.
#[test]
fn a_run_waiting_for_the_lock_ends_at_once_by_sigterm() {
    let mirror = slow_mirror();
    let sb = Sandbox::new();
    slow_recipe(&sb, &mirror);
    let first = slow_run(&sb, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let holder = wait_for_download(&sb);
    let log = sb.path().join("waiting.err");
    let mut waiting = slow_run(&sb, &["--wait"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // It says so just before it blocks on the lock.
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let start = Instant::now();
    while !said().starts_with("waiting for another run of slow.toml (pid ") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the second run never waited for the lock: {}",
            said()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    send(waiting.id() as i32, Signal::TERM);
    let status = waiting.wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "{status}");
    assert_eq!(said().lines().count(), 1, "{}", said());
    // The run that holds the lock goes on until it is stopped in turn.
    assert_eq!(lock_holder(&sb), Some(holder));
    assert!(!lock_is_free(&sb));
    send(holder, Signal::TERM);
    let status = first.wait_with_output().unwrap().status;
    assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "{status}");
    assert!(lock_is_free(&sb));
    assert_eq!(partial_downloads(&sb), Vec::<String>::new());
}

//! What a run leaves when it cannot clean up, through the real CLI: a
//! pipeline killed (SIGKILL) in the middle of an upload leaves its upload's
//! temp file and its scratch folder, which the next run removes at once (a
//! live run's never); a prune holds the run lock and removes them too; a
//! cached snapshot whose bytes are wrong is removed and built again.
//! Snapshots are written into the cache by hand, as a run that failed at
//! upload leaves them, so that only the last test boots a VM.

use crate::support::{
    Loopback, Recipe, Reply, Sandbox, output, stderr, stdout, tiny_recipe, vm_lock,
};
use rustix::process::{Pid, Signal};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "tiny-tiny-x64-case-b-ok";

/// The input key a run of the recipe's only cell would build.
fn input_key(sb: &Sandbox, recipe: &str) -> String {
    let o = sb.run(&["plan", recipe, "--status", "--json"]);
    assert!(o.status.success(), "{}", output(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    plan["cells"][0]["input_key"].as_str().unwrap().to_owned()
}

/// A snapshot of `key` in the cache, as a run that failed at upload leaves
/// it: `<key>.qcow2` (the file at `image`, moved there) and its record,
/// which says it has `sha256`.
fn cache_snapshot(sb: &Sandbox, key: &str, image: &Path, sha256: &str) -> PathBuf {
    let dir = sb.path().join("cache/snapshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{key}.qcow2"));
    std::fs::rename(image, &path).unwrap();
    let record = serde_json::json!({
        "sha256": sha256,
        "size": std::fs::metadata(&path).unwrap().len(),
        "image_name": IMAGE,
        "build": null,
    });
    std::fs::write(dir.join(format!("{key}.json")), record.to_string()).unwrap();
    path
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The temp files in an image directory of the store `images`.
fn temp_files(sb: &Sandbox, image: &str) -> Vec<String> {
    sb.entries(&format!("images/{image}"))
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_run_killed_mid_upload_leaves_what_the_next_run_removes_at_once() {
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let key = input_key(&sb, "tiny.toml");
    // Big enough that the upload (copied and hashed) takes a while.
    let image = sb.path().join("big.qcow2");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(768 << 20)
        .unwrap();
    let sha256 = sha256_of(&image);
    cache_snapshot(&sb, &key, &image, &sha256);

    let mut child = sb
        .command(&["run", "tiny.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uploading = || {
        let dir = sb.path().join("images").join(IMAGE);
        temp_files(&sb, IMAGE)
            .iter()
            .any(|t| std::fs::metadata(dir.join(t)).is_ok_and(|m| m.len() > 0))
    };
    wait_for("the upload", Duration::from_secs(60), uploading);
    child.kill().unwrap();
    child.wait().unwrap();
    // What the SIGKILL left: the upload's temp file, the scratch folder
    // and its lease.
    assert_eq!(temp_files(&sb, IMAGE).len(), 1);
    let work = sb.entries("cache/work");
    assert_eq!(work.len(), 2, "{work:?}");
    assert!(work[1].ends_with(".lease"), "{work:?}");

    // The next run uploads the snapshot again and leaves nothing behind.
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "removed {}, the scratch folder of a run that ended without removing it",
            sb.path().join("cache/work").join(&work[0]).display()
        )),
        "{err}"
    );
    assert_eq!(temp_files(&sb, IMAGE), Vec::<String>::new());
    assert_eq!(sb.entries("cache/work"), Vec::<String>::new());
    // Number 1 went to the killed upload, and is never reused.
    assert_eq!(sb.revisions("images", IMAGE), [2]);
}

/// A run that holds its lock for as long as the test wants: its base comes
/// from a loopback mirror whose download never ends.
fn held_run(sb: &Sandbox, mirror: &Loopback) -> Child {
    Recipe::new("slow", "slow", "#!/bin/sh\necho ok\n")
        .base(format!("{}/slow.img", mirror.url()), &"0".repeat(64))
        .write(sb);
    let mut cmd = sb.command(&["run", "slow.toml"]);
    cmd.env("PIPELINE_ACCEL", "tcg");
    for proxy in ["http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(proxy).env_remove(proxy.to_uppercase());
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Holding the lock, and under way: its scratch folder is made.
    wait_for("the run to start", Duration::from_secs(60), || {
        sb.entries("cache/work")
            .iter()
            .any(|n| n.ends_with(".lease"))
            && sb
                .entries("cache/bases")
                .iter()
                .any(|n| n.ends_with(".partial"))
    });
    child
}

#[test]
fn prune_takes_the_run_lock_and_removes_only_what_dead_runs_left() {
    let mirror = Loopback::start(|_, _| Reply::Download {
        every: Duration::from_millis(50),
    });
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    // A run starts by removing what dead runs left: these come after.
    let mut run = held_run(&sb, &mirror);
    // What a dead run left: a scratch folder with its lease file (free), and
    // an upload's temp file (nobody holds it).
    let work = sb.path().join("cache/work");
    std::fs::create_dir_all(work.join("dead-run/cell")).unwrap();
    std::fs::write(work.join("dead-run.lease"), "").unwrap();
    let image_dir = sb.path().join("images").join(IMAGE);
    std::fs::create_dir_all(&image_dir).unwrap();
    std::fs::write(image_dir.join(".1.qcow2.dead.tmp"), "half an image").unwrap();

    let live = sb.entries("cache/work");
    assert_eq!(live.len(), 4, "{live:?}");

    // slow.toml's prune waits for its run, or exits 3; a dry run reads.
    let o = sb.run(&["prune", "slow.toml"]);
    assert_eq!(o.status.code(), Some(3), "{}", output(&o));
    assert!(
        stderr(&o).starts_with("error: another run of slow.toml is in progress (pid "),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("; use --wait to wait for it (lock: "),
        "{}",
        stderr(&o)
    );
    let o = sb.run(&["prune", "slow.toml", "--dry-run"]);
    assert!(o.status.success(), "{}", output(&o));
    assert_eq!(sb.entries("cache/work"), live, "a dry run removes nothing");

    // Another recipe's prune removes what the dead run left, and not what
    // the live one is using.
    let o = sb.run(&["prune", "tiny.toml"]);
    assert!(o.status.success(), "{}", output(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "removed {}, the scratch folder of a run that ended without removing it\n",
            work.join("dead-run").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "removed {}, a temp file of an upload that ended\n",
            image_dir.join(".1.qcow2.dead.tmp").display()
        )),
        "{err}"
    );
    let left: Vec<String> = live
        .iter()
        .filter(|n| !n.starts_with("dead-run"))
        .cloned()
        .collect();
    assert_eq!(sb.entries("cache/work"), left);
    assert_eq!(temp_files(&sb, IMAGE), Vec::<String>::new());

    // With --wait, it waits for the run and then prunes.
    let waiting = sb
        .command(&["prune", "slow.toml", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = Pid::from_raw(run.id() as i32).unwrap();
    rustix::process::kill_process(pid, Signal::TERM).unwrap();
    run.wait().unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", output(&o));
    assert!(
        stderr(&o).starts_with("waiting for another run of slow.toml (pid "),
        "{}",
        stderr(&o)
    );
    assert_eq!(sb.entries("cache/work"), Vec::<String>::new());
}

#[test]
fn a_cached_snapshot_with_the_wrong_bytes_is_removed_and_built_again() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let key = input_key(&sb, "tiny.toml");
    // Its size is right, only its bytes are not what the record says.
    let image = sb.path().join("bad.qcow2");
    std::fs::write(&image, "the bytes on disk").unwrap();
    let recorded = pipeline::files::digest::sha256_bytes(b"the bytes recorded");
    let path = cache_snapshot(&sb, &key, &image, &recorded);

    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let warning = format!(
        "warning: the cached snapshot {} is damaged (its sha256 is {}, not {recorded} as recorded): removed it; the cell is built again\n",
        path.display(),
        pipeline::files::digest::sha256_bytes(b"the bytes on disk")
    );
    assert_eq!(err.matches(&warning).count(), 1, "{err}");
    assert!(
        err.contains(&format!("build {IMAGE}: no image on local yet\n")),
        "{err}"
    );
    assert!(
        err.contains("1 built, 0 uploaded from a cached snapshot"),
        "{err}"
    );
    assert_eq!(sb.revisions("images", IMAGE), [1]);
    assert_eq!(sb.entries("cache/snapshots"), Vec::<String>::new());
    let o = sb.run(&["run", "tiny.toml"]);
    assert!(stderr(&o).contains("nothing to do"), "{}", stderr(&o));
}

//! Faults a guest can cause on the host that runs pipeline: output it
//! cannot hold.

use crate::support::{
    Sandbox, Target, Tmpfs, assert_no_qemu_left, live_qemus, stderr, tiny_recipe, vm_lock,
};
use std::path::Path;
use std::time::Duration;

/// 3 MB to the console (a serial port under TCG takes about a minute for
/// it), 70 MB of noise to the result port, then the normal end: more than
/// pipeline keeps of either.
const FLOOD: &str = r#"#!/bin/sh
set -eu
echo "flooding"
yes 'console flood: the same line again and again, to fill a log file ......' \
    | head -c 3000000 >/dev/console || true
yes 'result port flood: not a result line, again and again ................' \
    | head -c 70000000 >/dev/virtio-ports/org.pipeline.result || true
echo "flooded"
"#;

/// The peak resident memory (VmHWM) of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn largest_file(dir: &Path) -> (u64, String) {
    let mut largest = (0, String::new());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let found = if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            (meta.len(), entry.path().display().to_string())
        };
        if found.0 > largest.0 {
            largest = found;
        }
    }
    largest
}

#[test]
fn a_guest_that_floods_its_console_and_result_port_is_bounded_on_disk_and_in_memory() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"])
        .template(FLOOD)
        .timeout("10m")
        .write(&sb);
    let mut child = sb
        .command(&["run", "tiny.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Read stderr aside, so that a full pipe never stalls the run.
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(err).unwrap());
    // VmHWM is the peak so far: the last reading before the exit is the
    // run's peak, but for the last few milliseconds.
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(peak > 0, "no reading of pipeline's memory");
    assert!(
        peak < 64 << 10,
        "pipeline's peak RSS was {} MiB with a flooding guest",
        peak >> 10
    );
    let (size, file) = largest_file(&sb.run_dir());
    assert!(
        size < 20 << 20,
        "{file} in the run directory is {} MiB",
        size >> 20
    );
    let console =
        std::fs::read_to_string(sb.run_dir().join("tiny-tiny-x64-case-b-ok/console.log")).unwrap();
    assert!(
        console.contains("[pipeline: the console printed ")
            && console.contains(" MiB kept here; its last "),
        "the console log does not say it was cut"
    );
    assert!(
        console.contains("flooded"),
        "the tail after the cut is kept"
    );
    assert!(
        !stderr_has_flood(&err),
        "the flood reached pipeline's own output"
    );
    assert_no_qemu_left(&sb);
}

fn stderr_has_flood(err: &str) -> bool {
    err.matches("console flood").count() > 20
}

#[test]
fn a_run_without_room_for_its_images_fails_before_anything_boots() {
    let sb = Sandbox::new();
    let small = sb.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let _small = Tmpfs::mount(&small, "30m");
    tiny_recipe(&["b-ok", "c-ok", "d-ok"])
        .targets(vec![Target::directory("local", "small", 2)])
        .write(&sb);
    // `init` fetches the base into the cache: its size is what a run
    // estimates from.
    let _ = sb.run(&["init", "tiny.toml"]);
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not enough disk space for this run, nothing was started"),
        "{err}"
    );
    assert!(
        err.contains("target `local`: ")
            && err.contains(" free in ")
            && err.contains("3 new image(s) of about "),
        "the numbers are said:\n{err}"
    );
    assert!(!err.contains("boot "), "nothing booted:\n{err}");
    assert!(live_qemus(sb.path()).is_empty());
}

/// `chattr +i` on a directory for a test (root cannot create files in it
/// either), undone however the test ends.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: std::path::PathBuf) -> Immutable {
        let o = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "chattr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_forced_rebuild_whose_upload_fails_rewrites_no_manifest_and_claims_no_upload() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let o = sb.run(&["run", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let image_dir = sb.path().join("images/tiny-tiny-x64-case-b-ok");
    let manifest = image_dir.join("1.manifest.json");
    let recorded = std::fs::read(&manifest).unwrap();

    // The same inputs, rebuilt; the store refuses the upload.
    let o = {
        let _frozen = Immutable::set(image_dir.clone());
        sb.run(&["run", "tiny.toml", "--force"])
    };
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed at upload:tiny-tiny-x64-case-b-ok@local"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&manifest).unwrap(),
        recorded,
        "manifest 1 rewritten"
    );

    // The store holds the current image: nothing to do, nothing claimed.
    let status = sb.run(&["plan", "tiny.toml", "--status"]);
    let said = format!("{}{}", crate::support::stdout(&status), stderr(&status));
    assert!(!said.contains("stopped before recording"), "{said}");
    assert!(said.contains("up to date"), "{said}");
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("nothing to do: 1 cell up to date"), "{err}");
    assert!(!err.contains("uploaded"), "{err}");
    assert_eq!(
        std::fs::read(&manifest).unwrap(),
        recorded,
        "manifest 1 rewritten"
    );
    assert_eq!(sb.revisions("images", "tiny-tiny-x64-case-b-ok"), [1]);
    assert_no_qemu_left(&sb);
}

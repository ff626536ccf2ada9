//! Rebuild only what changed, resume after a failure, the run lock, and
//! the provenance manifest beside every image.

use crate::support::{
    Recipe, Sandbox, Target, live_qemus, output, redacted, run_result, run_summary, stderr, stdout,
    vm_lock,
};
use std::time::{Duration, Instant};

const TEMPLATE: &str = r#"#!/bin/sh
set -eu
mkdir -p /etc/pipeline-test
echo {{ case | shell_quote }} >/etc/pipeline-test/case
{% if case == "big" %}
# 300 MiB that do not compress, past the root partition: a slow upload.
dd if=/dev/urandom of=/dev/vda bs=1M seek=300 count=300 conv=fsync 2>/dev/null
{% endif %}
{% if case == "slow" %}
sleep 20
{% endif %}
echo "finished {{ case }}"
"#;

/// `inc.toml`: the tiny image with two directory targets, `local` and `mirror`.
fn recipe(cases: &[&str]) -> Recipe {
    Recipe::new("inc", "inc", TEMPLATE)
        .disk_size("1G")
        .cases(cases)
        .targets(vec![
            Target::directory("local", "local", 2),
            Target::directory("mirror", "mirror", 2),
        ])
}

fn boots_in_newest_run(sb: &Sandbox) -> usize {
    sb.run_log()
        .lines()
        .filter(|l| l.contains(" boot ") && l.ends_with(": started"))
        .count()
}

/// Every stored image has a manifest whose sha256 is the file's.
fn assert_manifests(sb: &Sandbox, store: &str, image: &str) {
    let dir = sb.path().join(store).join(image);
    for n in sb.revisions(store, image) {
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{n}.manifest.json")))
                .unwrap_or_else(|_| panic!("{store}/{image}/{n} has no manifest")),
        )
        .unwrap();
        let bytes = std::fs::read(dir.join(format!("{n}.qcow2"))).unwrap();
        let sha = pipeline::files::digest::sha256_bytes(&bytes);
        assert_eq!(manifest["output"]["sha256"], sha, "{store}/{image}/{n}");
        assert_eq!(manifest["output"]["size"], bytes.len());
        assert_eq!(manifest["images"][store], format!("{image}/{n}"));
        for key in [
            "tool",
            "recipe",
            "cell",
            "base",
            "input_key",
            "timings",
            "host",
        ] {
            assert!(!manifest[key].is_null(), "manifest lacks {key}: {manifest}");
        }
        assert_eq!(manifest["host"]["accelerator"], "tcg");
        assert!(
            manifest["timings"][format!("boot:{image}")].is_number(),
            "{manifest}"
        );
    }
}

#[test]
fn unchanged_cells_are_skipped_and_a_changed_value_rebuilds_only_its_cell() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    recipe(&["a", "b"]).write(&sb);
    let o = sb.run(&["run", "inc.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(boots_in_newest_run(&sb), 2);
    redacted().bind(|| insta::assert_snapshot!("run-two-targets", run_result(&o)));
    for cell in ["inc-tiny-x64-case-a", "inc-tiny-x64-case-b"] {
        for store in ["local", "mirror"] {
            assert_eq!(sb.revisions(store, cell), [1]);
            assert_manifests(&sb, store, cell);
        }
    }

    // Nothing changed: nothing boots, nothing is uploaded.
    let o = sb.run(&["run", "inc.toml", "--json"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("nothing to do: 2 cells up to date"), "{err}");
    assert_eq!(boots_in_newest_run(&sb), 0);
    let cells: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(cells[0]["status"], "up-to-date");
    assert_eq!(cells[0]["images"][1]["id"], "inc-tiny-x64-case-a/1");
    redacted().bind(|| {
        insta::assert_json_snapshot!("run-up-to-date-json", cells);
        insta::assert_snapshot!("run-up-to-date-summary", run_summary(&err));
    });
    let plan = stdout(&sb.run(&["plan", "inc.toml", "--status"]));
    assert!(plan.contains("skip inc-tiny-x64-case-a: up to date (local inc-tiny-x64-case-a/1, mirror inc-tiny-x64-case-a/1)"), "{plan}");
    redacted().bind(|| insta::assert_snapshot!("plan-status-up-to-date", plan));

    // One matrix value changes: only that cell builds.
    recipe(&["a", "c"]).write(&sb);
    let plan = stdout(&sb.run(&["plan", "inc.toml", "--status"]));
    assert!(
        plan.contains("build inc-tiny-x64-case-c: no image on local yet; no image on mirror yet"),
        "{plan}"
    );
    assert!(plan.contains("skip inc-tiny-x64-case-a"), "{plan}");
    let o = sb.run(&["plan", "inc.toml", "--status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    redacted().bind(|| {
        insta::assert_snapshot!("plan-status-new-cell", plan);
        insta::assert_json_snapshot!("plan-status-new-cell-json", json, {
            ".cells[].input_key" => "[input key]",
        });
    });
    let o = sb.run(&["run", "inc.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = sb.run_log();
    assert_eq!(boots_in_newest_run(&sb), 1, "{log}");
    assert!(log.contains("boot inc-tiny-x64-case-c: started"), "{log}");
    assert_eq!(sb.revisions("local", "inc-tiny-x64-case-a"), [1]);

    // The script changes: the plan says so.
    recipe(&["a", "c"])
        .template(&TEMPLATE.replace("finished", "done"))
        .write(&sb);
    let plan = stdout(&sb.run(&["plan", "inc.toml", "--status"]));
    assert!(
        plan.contains(
            "build inc-tiny-x64-case-a: the provisioning script changed since the image on local"
        ),
        "{plan}"
    );
    redacted().bind(|| insta::assert_snapshot!("plan-status-script-changed", plan));
}

#[test]
fn a_run_killed_during_upload_resumes_without_booting() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    recipe(&["big"]).write(&sb);
    let image = "inc-tiny-x64-case-big";
    let mut child = sb.command(&["run", "inc.toml"]).spawn().unwrap();
    // Kill it the moment an upload starts (SIGKILL: no clean-up handler runs).
    let start = Instant::now();
    loop {
        let uploading = sb
            .run_log_so_far()
            .is_some_and(|log| log.contains(&format!("upload {image}@")));
        if uploading {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no upload started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before uploading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(live_qemus(sb.path()).is_empty());
    // At most a complete image on one target; never a half-written one.
    let before: usize = ["local", "mirror"]
        .iter()
        .map(|s| sb.revisions(s, image).len())
        .sum();
    assert!(
        before < 2,
        "both uploads finished before the kill: the test lost its race"
    );

    let o = sb.run(&["run", "inc.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        boots_in_newest_run(&sb),
        0,
        "the rerun booted a VM:\n{}",
        sb.run_log()
    );
    assert!(
        sb.run_log().contains("snapshot of this build is cached"),
        "{}",
        sb.run_log()
    );
    for store in ["local", "mirror"] {
        // One image each; the killed upload's number is not reused.
        assert_eq!(sb.revisions(store, image).len(), 1, "{store}");
        assert_manifests(&sb, store, image);
    }
    // The cached snapshot is gone once every target has the image.
    let cached = sb.entries("cache/snapshots");
    assert!(cached.is_empty(), "{cached:?}");
    // Which targets the rerun uploaded to depends on when the kill came;
    // that it booted nothing does not.
    redacted().bind(|| insta::assert_snapshot!("run-resumed-upload", run_summary(&err)));
    // And a third run has nothing to do.
    let o = sb.run(&["run", "inc.toml"]);
    assert!(stderr(&o).contains("nothing to do"), "{}", stderr(&o));
}

#[test]
fn two_runs_of_a_recipe_never_overlap() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    recipe(&["slow"]).write(&sb);
    let mut first = sb.command(&["run", "inc.toml"]).spawn().unwrap();
    let start = Instant::now();
    while !sb.path().join("state/runs/inc").exists() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = sb.run(&["run", "inc.toml"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("another run of inc.toml is in progress (pid "),
        "{err}"
    );
    assert!(err.contains("use --wait to wait for it"), "{err}");
    // The lock's name has a hash of the recipe's path, a sandbox's.
    let mut settings = redacted();
    settings.add_filter(
        r"(/locks/[\w.-]+)-[0-9a-f]{12}\.lock",
        "$1-[path hash].lock",
    );
    settings.bind(|| insta::assert_snapshot!("run-locked", output(&o)));

    let waited = sb.run(&["run", "inc.toml", "--wait"]);
    let first_status = first.wait().unwrap();
    assert!(first_status.success());
    let err = stderr(&waited);
    assert!(waited.status.success(), "{err}");
    assert!(err.contains("waiting for another run of inc.toml"), "{err}");
    assert!(
        err.contains("nothing to do"),
        "the waiting run should find the image built: {err}"
    );
    for store in ["local", "mirror"] {
        assert_eq!(sb.revisions(store, "inc-tiny-x64-case-slow"), [1]);
    }
    // A run with nothing to do, whole.
    redacted().bind(|| insta::assert_snapshot!("run-waited-nothing-to-do", output(&waited)));
}

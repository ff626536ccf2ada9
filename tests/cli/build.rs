//! `pipeline run` on real QEMU. Failure paths use the tiny image (a kernel
//! and a busybox init that runs the NoCloud user-data; boots in seconds);
//! the end-to-end test uses the real Debian cloud image with cloud-init.

use crate::support::{
    Sandbox, assert_no_qemu_left, debugfs_cat, debugfs_ls, file_contains, fixture, fixture_sha256,
    live_qemus, output, redacted, repo, run_result, run_summary, stderr, stdout, tiny_recipe,
    to_raw, vm_lock, without_verify,
};
use std::time::{Duration, Instant};

#[test]
fn a_failing_script_fails_its_cell_with_the_console_tail_and_stops_new_cells() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["a-fails", "b-ok", "c-ok"]).write(&sb);
    let o = sb.run(&["run", "tiny.toml", "--jobs", "1"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tiny-tiny-x64-case-a-fails: failed at boot:tiny-tiny-x64-case-a-fails: the provisioning script exited with 1"),
        "{err}"
    );
    assert!(
        err.contains("about to fail on purpose"),
        "console tail missing:\n{err}"
    );
    assert!(err.contains("no new cell will start"), "{err}");
    for skipped in ["b-ok", "c-ok"] {
        assert!(
            err.contains(&format!(
                "tiny-tiny-x64-case-{skipped}: skipped: not started"
            )),
            "{err}"
        );
        assert!(
            !sb.run_log()
                .contains(&format!("boot tiny-tiny-x64-case-{skipped}: started"))
        );
        assert!(
            sb.revisions("images", &format!("tiny-tiny-x64-case-{skipped}"))
                .is_empty()
        );
    }
    assert_no_qemu_left(&sb);
    redacted().bind(|| insta::assert_snapshot!("run-failure-stops-new-cells", run_result(&o)));
}

#[test]
fn keep_going_builds_every_cell_that_does_not_depend_on_the_failure() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["a-fails", "b-ok", "c-ok"]).write(&sb);
    let o = sb.run(&["run", "tiny.toml", "--jobs", "1", "--keep-going", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let cells: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let status: Vec<(&str, &str)> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["image_name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("tiny-tiny-x64-case-a-fails", "failed"),
            ("tiny-tiny-x64-case-b-ok", "built"),
            ("tiny-tiny-x64-case-c-ok", "built"),
        ]
    );
    assert_eq!(cells[1]["images"][0]["target"], "local");
    assert_eq!(cells[1]["images"][0]["id"], "tiny-tiny-x64-case-b-ok/1");
    assert_eq!(sb.revisions("images", "tiny-tiny-x64-case-b-ok"), [1]);
    assert!(
        sb.revisions("images", "tiny-tiny-x64-case-a-fails")
            .is_empty()
    );
    // What the script wrote is in the image.
    let raw = to_raw(
        &sb.path().join("images/tiny-tiny-x64-case-c-ok/1.qcow2"),
        sb.path(),
    );
    assert_eq!(
        debugfs_cat(&raw, "/etc/pipeline-test/case").unwrap(),
        "c-ok\n"
    );
    assert_no_qemu_left(&sb);
    redacted().bind(|| {
        insta::assert_json_snapshot!("run-keep-going-json", cells);
        insta::assert_snapshot!("run-keep-going-summary", run_summary(&stderr(&o)));
    });
}

#[test]
fn a_boot_that_never_powers_off_is_killed_at_the_timeout() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["hangs"]).timeout("20s").write(&sb);
    let start = Instant::now();
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the VM did not power off within 20s and was killed"),
        "{err}"
    );
    assert!(
        err.contains("hanging on purpose"),
        "console tail missing:\n{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(90),
        "took {:?}",
        start.elapsed()
    );
    assert_no_qemu_left(&sb);
    assert!(
        sb.revisions("images", "tiny-tiny-x64-case-hangs")
            .is_empty()
    );
    redacted().bind(|| insta::assert_snapshot!("run-timeout", run_result(&o)));
}

#[test]
fn a_wrong_checksum_fails_before_any_vm_boots() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    let wrong = "0".repeat(64);
    tiny_recipe(&["b-ok"]).sha256(&wrong).write(&sb);
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let actual = fixture_sha256(&fixture("tiny-image.sh"));
    assert!(err.contains("checksum mismatch for base `tiny`"), "{err}");
    assert!(
        err.contains(&format!("expected {wrong}, got {actual}")),
        "{err}"
    );
    let log = sb.run_log();
    assert!(!log.contains("boot tiny"), "a VM booted:\n{log}");
    // Nothing was cached under either digest.
    let left = sb.entries("cache/bases");
    assert!(left.is_empty(), "{left:?}");
    let shown = run_result(&o)
        .replace(&actual, "[the image's sha256]")
        .replace(&wrong, "[the recipe's sha256]");
    redacted().bind(|| insta::assert_snapshot!("run-wrong-checksum", shown));
}

#[test]
fn runs_add_revisions_prune_keeps_the_newest_and_latest_finds_them() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    let name = "tiny-tiny-x64-case-b-ok";
    tiny_recipe(&["b-ok"]).keep(3).write(&sb);
    for run in 1..=3 {
        // Nothing changes between runs: --force asks for a new revision.
        let o = sb.run(&["run", "tiny.toml", "--force"]);
        assert!(o.status.success(), "run {run}: {}", stderr(&o));
        assert_eq!(sb.revisions("images", name), (1..=run).collect::<Vec<_>>());
        // The result table lists the new revision, once.
        let table = stdout(&o);
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(
            table.contains(&format!("local   {name}/{run}  ")),
            "{table}"
        );
        if run == 3 {
            redacted().bind(|| insta::assert_snapshot!("run-built", run_result(&o)));
        }
    }
    // An image of the same name that another recipe owns is never touched.
    let foreign = sb.path().join("images").join(name);
    std::fs::copy(foreign.join("1.qcow2"), foreign.join("90.qcow2")).unwrap();
    let meta = std::fs::read_to_string(foreign.join("1.json")).unwrap();
    std::fs::write(
        foreign.join("90.json"),
        meta.replace("\"pipeline:tiny\"", "\"pipeline:someone-else\"")
            .replace(&format!("{name}/1"), &format!("{name}/90"))
            .replace("\"number\": 1", "\"number\": 90"),
    )
    .unwrap();

    tiny_recipe(&["b-ok"]).write(&sb);
    let o = sb.run(&["prune", "tiny.toml", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("would delete local {name}/1 (created ")),
        "{}",
        stdout(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 1);
    assert_eq!(
        sb.revisions("images", name),
        [1, 2, 3, 90],
        "dry-run deleted something"
    );
    redacted().bind(|| insta::assert_snapshot!("prune-dry-run", output(&o)));
    // prune deletes what the dry run named.
    let o = sb.run(&["prune", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sb.revisions("images", name), [2, 3, 90]);
    redacted().bind(|| insta::assert_snapshot!("prune", output(&o)));

    // With keep = 2 the next run leaves exactly the two newest of ours.
    // Numbers are never reused in a directory, so the new one follows 90.
    let o = sb.run(&["run", "tiny.toml", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sb.revisions("images", name), [3, 90, 91]);
    let kept = std::fs::read_to_string(foreign.join("90.json")).unwrap();
    assert!(kept.contains("pipeline:someone-else"));

    let o = sb.run(&["latest", "tiny.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let latest: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(latest[0]["image_name"], name);
    assert_eq!(latest[0]["images"]["local"], format!("{name}/91"));
    let table = stdout(&sb.run(&["latest", "tiny.toml"]));
    assert!(
        table.contains(&format!("local   {name}  {name}/91")),
        "{table}"
    );
    redacted().bind(|| {
        insta::assert_json_snapshot!("latest-json", latest);
        insta::assert_snapshot!("latest", table);
    });
}

#[test]
fn ctrl_c_kills_every_vm_removes_partial_files_and_exits_130() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["hangs"]).timeout("5m").write(&sb);
    let mut child = sb
        .command(&["run", "tiny.toml"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
        err
    });
    wait_for_boot(&sb);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    // Ended by the SIGINT once clean: a shell reports 130.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(rustix::process::Signal::INT.as_raw()),
        "{status}"
    );
    assert_no_qemu_left(&sb);
    let err = err.join().unwrap();
    assert!(err.ends_with("\nerror: interrupted\n"), "{err}");
    redacted().bind(|| insta::assert_snapshot!("run-interrupted", run_summary(&err)));
    assert!(
        sb.revisions("images", "tiny-tiny-x64-case-hangs")
            .is_empty()
    );
    let left = sb.entries("cache/work");
    assert!(left.is_empty(), "work files left: {left:?}");
}

#[test]
fn no_vm_outlives_a_killed_pipeline() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["hangs"]).timeout("5m").write(&sb);
    let mut child = sb.command(&["run", "tiny.toml"]).spawn().unwrap();
    wait_for_boot(&sb);
    assert!(
        !live_qemus(sb.path()).is_empty(),
        "the VM should be running"
    );
    child.kill().unwrap(); // SIGKILL: no handler runs; PR_SET_PDEATHSIG must act.
    child.wait().unwrap();
    assert_no_qemu_left(&sb);
}

fn wait_for_boot(sb: &Sandbox) {
    let start = Instant::now();
    loop {
        let booted = sb
            .run_log_so_far()
            .is_some_and(|log| log.contains("boot tiny-tiny-x64-case-hangs: started"));
        if booted && !live_qemus(sb.path()).is_empty() {
            std::thread::sleep(Duration::from_secs(2));
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the VM never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The main end-to-end test: the demo recipe on the real Debian cloud image
/// with real cloud-init, 4 cells, 2 VMs at a time, two secrets; uploaded to
/// the local directory store and to two clouds (a real Keystone and two
/// real Glances on loopback).
#[test]
fn demo_recipe_builds_real_images_in_parallel() {
    let _vm = vm_lock();
    let rig = crate::support::Rig::start();
    let sb = Sandbox::new();
    let recipe = crate::support::demo_recipe();
    let recipe = format!(
        "{recipe}\n[[target]]\nname = \"cloud-a\"\nkind = \"openstack\"\ncloud = \"cloud-a\"\nkeep = 3\n\n[[target]]\nname = \"cloud-b\"\nkind = \"openstack\"\ncloud = \"cloud-b\"\nkeep = 3\n"
    );
    sb.write("demo.toml", &recipe);
    let secrets = [
        ("PIPELINE_SECRET_DEMO_TOKEN", "tok-9f3a1c-do-not-leak"),
        (
            "PIPELINE_SECRET_REGISTRY_PASSWORD",
            "pw with spaces & 'quotes'",
        ),
    ];
    let mut cmd = sb.command(&["run", "demo.toml", "--jobs", "2", "--json"]);
    crate::support::with_clouds(&mut cmd, &rig.clouds_yaml());
    for (k, v) in secrets {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for (_, v) in secrets {
        assert!(
            !err.contains(v) && !stdout(&o).contains(v),
            "a secret was printed"
        );
    }
    let cells: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(cells.as_array().unwrap().len(), 4);
    redacted().bind(|| {
        insta::assert_json_snapshot!("demo-run-json", cells);
        insta::assert_snapshot!("demo-run-summary", run_summary(&err));
    });

    // At least two VMs ran at the same time.
    let log = sb.run_log();
    assert!(
        max_concurrent_boots(&log) >= 2,
        "boots never overlapped:\n{log}"
    );

    for cell in cells.as_array().unwrap() {
        assert_eq!(cell["status"], "built", "{cell}");
        let name = cell["image_name"].as_str().unwrap();
        let id = cell["images"][0]["id"].as_str().unwrap();
        assert_eq!(id, format!("{name}/1"));
        let qcow2 = sb.path().join("images").join(format!("{id}.qcow2"));
        let raw = to_raw(&qcow2, sb.path());
        let env = debugfs_cat(&raw, "/etc/pipeline-demo/cell.env").expect("cell.env");
        let values = &cell["values"];
        assert!(env.contains(&format!("IMAGE_NAME={name}\n")), "{env}");
        for axis in ["juju", "microk8s"] {
            let v = values[axis].as_str().unwrap();
            let line = if v.is_empty() {
                format!("{}=''\n", axis.to_uppercase())
            } else {
                format!("{}={v}\n", axis.to_uppercase())
            };
            assert!(env.contains(&line), "{name}: {line:?} not in {env}");
        }
        // It was verified before any target got it: booted as a new
        // instance, pipeline's checks and the demo's all passed.
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(sb.path().join("images").join(format!("{id}.manifest.json")))
                .unwrap(),
        )
        .unwrap();
        let verify = &manifest["verify"];
        assert_eq!(verify["result"], "passed", "{manifest}");
        assert!(verify["seconds"].as_f64().unwrap() > 1.0, "{verify}");
        assert_eq!(verify["checks"].as_array().unwrap().len(), 7, "{verify}");
        let console =
            std::fs::read_to_string(sb.run_dir().join(name).join("verify-console.log")).unwrap();
        assert!(
            console.contains("ok: the cell's image name is in /etc/pipeline-demo/cell.env"),
            "{console}"
        );
        let at = |needle: String| {
            log.lines()
                .position(|l| l.contains(&needle))
                .unwrap_or_else(|| panic!("no {needle:?} in the run log"))
        };
        assert!(at(format!("snapshot {name}: done")) < at(format!("verify {name}: started")));
        assert!(at(format!("verify {name}: done")) < at(format!("upload {name}@local: started")));
        // Each secret reached the script: its digest is in the image...
        let digests = debugfs_cat(&raw, "/etc/pipeline-demo/secrets.sha256").unwrap();
        for (k, v) in secrets {
            let digest = pipeline::files::digest::sha256_bytes(v.as_bytes());
            assert!(digests.contains(&format!("{k} {digest}\n")), "{digests}");
        }
        // ...its value is nowhere in the image's bytes.
        for (_, v) in secrets {
            assert!(
                !file_contains(&raw, v),
                "{name}: a secret value is in the image"
            );
        }
        // The image boots as a fresh instance: no cloud-init state or logs,
        // no copy of the user-data, empty machine-id, no persistent journal.
        assert_eq!(debugfs_ls(&raw, "/var/lib/cloud/instance"), None);
        assert_eq!(debugfs_ls(&raw, "/var/lib/cloud/instances"), None);
        assert_eq!(debugfs_cat(&raw, "/var/log/cloud-init.log"), None);
        assert_eq!(debugfs_cat(&raw, "/var/log/cloud-init-output.log"), None);
        assert_eq!(debugfs_cat(&raw, "/etc/machine-id").as_deref(), Some(""));
        assert_eq!(debugfs_ls(&raw, "/var/log/journal"), Some(vec![]));
        let cloud = debugfs_ls(&raw, "/var/lib/cloud").unwrap_or_default();
        for entry in &cloud {
            let listing = debugfs_ls(&raw, &format!("/var/lib/cloud/{entry}")).unwrap_or_default();
            assert!(
                listing.is_empty(),
                "/var/lib/cloud/{entry} holds {listing:?}"
            );
        }
        std::fs::remove_file(&raw).unwrap();
    }

    // latest finds every image just built, locally and on both clouds, and
    // each Glance image is the very file the directory store holds.
    let mut cmd = sb.command(&["latest", "demo.toml", "--json"]);
    crate::support::with_clouds(&mut cmd, &rig.clouds_yaml());
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let latest: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    redacted().bind(|| insta::assert_json_snapshot!("demo-latest-json", latest));
    let token = rig.ci_token();
    for cell in latest.as_array().unwrap() {
        let name = cell["image_name"].as_str().unwrap();
        assert_eq!(cell["images"]["local"], format!("{name}/1"));
        let bytes =
            std::fs::read(sb.path().join("images").join(format!("{name}/1.qcow2"))).unwrap();
        let sha512 = {
            use sha2::Digest;
            hex::encode(sha2::Sha512::digest(&bytes))
        };
        for (target, which) in [("cloud-a", "a"), ("cloud-b", "b")] {
            let found = rig.images(
                which,
                &token,
                &format!("name={name}&pipeline_owner=pipeline:demo"),
            );
            assert_eq!(found.len(), 1, "{name} on {target}: {found:?}");
            let img = &found[0];
            assert_eq!(cell["images"][target], img["id"], "{name} on {target}");
            assert_eq!(img["status"], "active");
            assert_eq!(img["architecture"], "x86_64");
            assert_eq!(img["os_distro"], "debian");
            assert_eq!(
                img["pipeline_sha256"],
                pipeline::files::digest::sha256_bytes(&bytes)
            );
            assert_eq!(img["os_hash_value"], sha512.as_str());
            assert_eq!(img["pipeline_juju"], cell["values"]["juju"]);
            assert_eq!(img["pipeline_microk8s"], cell["values"]["microk8s"]);
        }
    }
    assert_no_qemu_left(&sb);
}

/// An image that fails verify is published nowhere, and `latest` still
/// names the good image from before: here the recipe gains `[verify]` with
/// a check that cannot hold, and the new provisioning script leaves a
/// secret on the disk, which pipeline's own checks find.
#[test]
fn an_image_that_fails_verify_is_not_published() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    let name = "demo-bookworm-x64";
    let one = ["--only", "juju=", "--only", "microk8s="];
    sb.write("demo.toml", &without_verify(&crate::support::demo_recipe()));
    let o = sb.run(&[&["run", "demo.toml"][..], &one].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sb.revisions("images", name), [1]);

    let shipped = |t: &str| repo().join("templates").join(t).display().to_string();
    let leaky = std::fs::read_to_string(shipped("demo.sh.tera")).unwrap()
        + "printf '%s' \"$PIPELINE_SECRET_DEMO_TOKEN\" >/root/.token\n";
    sb.write("leaky.sh.tera", &leaky);
    sb.write(
        "never.sh.tera",
        "#!/bin/bash\necho 'checking for a juju that was never asked for'\ngrep -qx 'JUJU=never' /etc/pipeline-demo/cell.env\n",
    );
    let recipe = crate::support::demo_recipe()
        .replace(&shipped("demo-checks.sh.tera"), "never.sh.tera")
        .replace(&shipped("demo.sh.tera"), "leaky.sh.tera");
    sb.write("demo.toml", &recipe);
    let mut cmd = sb.command(&[&["run", "demo.toml"][..], &one].concat());
    cmd.env("PIPELINE_SECRET_DEMO_TOKEN", "tok-leaked-on-purpose-7c1e");
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("tok-leaked-on-purpose-7c1e"), "{err}");
    for said in [
        &format!("verify {name}: failed"),
        "the image failed verification, so no target gets it: 1 of pipeline's checks failed:",
        "the build's seed or a secret is still on the disk, in: /root/.token",
        "the verify script exited with 1",
        // The verify console's last lines: the script's own output.
        "checking for a juju that was never asked for",
    ] {
        assert!(err.contains(said), "no {said:?} in:\n{err}");
    }
    // pipeline's other checks held: this is a new instance of a good build.
    let console =
        std::fs::read_to_string(sb.run_dir().join(name).join("verify-console.log")).unwrap();
    for ok in [
        " ok cloud-init reached done",
        " ok cloud-init ran as the new instance pipeline-verify-",
        " ok no earlier instance in /var/lib/cloud",
        " ok /etc/machine-id was made at this boot",
        " ok one seed attached: this boot's",
        " ok the root filesystem fills /dev/vda",
    ] {
        assert!(console.contains(ok), "no {ok:?} in the console:\n{console}");
    }
    assert!(!console.contains("tok-leaked-on-purpose-7c1e"), "{console}");
    // Nothing reached the store, nothing unverified is kept to resume
    // from, and latest still names the image from before.
    assert_eq!(sb.revisions("images", name), [1]);
    let snapshots: Vec<_> = std::fs::read_dir(sb.path().join("cache/snapshots"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(snapshots.is_empty(), "{snapshots:?}");
    let o = sb.run(&[&["latest", "demo.toml", "--json"][..], &one].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let latest: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(latest[0]["images"]["local"], format!("{name}/1"));
    assert_no_qemu_left(&sb);
}

/// The largest number of boots in progress at once, from run.log lines.
fn max_concurrent_boots(log: &str) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for line in log.lines() {
        if line.contains(" boot ") && line.ends_with(": started") {
            now += 1;
            max = max.max(now);
        } else if line.contains(" boot ")
            && (line.contains(": done in") || line.contains(": failed after"))
        {
            now = now.saturating_sub(1);
        }
    }
    max
}

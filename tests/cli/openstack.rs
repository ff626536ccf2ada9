//! OpenStack targets against a real Keystone and two real Glances
//! (`tests/openstack/rig`, one per test), with the tiny test image.

use crate::support::{
    Recipe, Rig, Sandbox, Target, fixture, output, redacted, run_result, run_summary, sh, stderr,
    stdout, vm_lock, with_clouds,
};
use camino::Utf8PathBuf;
use md5::Md5;
use pipeline::model::Visibility;
use pipeline::openstack::{CloudConfig, ConfigEnv};
use pipeline::step::CancelToken;
use pipeline::targets::Artifact;
use pipeline::targets::OpenstackStore;
use pipeline::targets::{ImageMeta, Listing, Revision, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEMPLATE: &str = r#"#!/bin/sh
set -eu
mkdir -p /etc/pipeline-test
echo {{ case | shell_quote }} >/etc/pipeline-test/case
"#;

/// The recipe `glance.toml` (owner `pipeline:glance`, images
/// `gl-tiny-x64-case-<case>`) on the tiny image, uncompressed, with the
/// given cases and targets.
fn recipe(cases: &[&str], targets: Vec<Target>) -> Recipe {
    Recipe::new("glance", "gl", TEMPLATE)
        .os("debian", "12")
        .cases(cases)
        .compression("none")
        .targets(targets)
}

fn command(sb: &Sandbox, clouds: &Path, args: &[&str]) -> Command {
    let mut cmd = sb.command(args);
    with_clouds(&mut cmd, clouds);
    cmd
}

fn run(sb: &Sandbox, clouds: &Path, args: &[&str]) -> Output {
    command(sb, clouds, args).output().unwrap()
}

/// `run` again: with `--force` where `run` has it (cells whose image is
/// up to date are skipped otherwise).
fn rerun_args() -> Vec<&'static str> {
    let help = crate::support::ok(&["run", "--help"]);
    let mut args = vec!["run", "glance.toml"];
    if help.contains("--force") {
        args.push("--force");
    }
    args
}

fn latest(sb: &Sandbox, clouds: &Path) -> Value {
    let o = run(sb, clouds, &["latest", "glance.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn hex_digest<D: Digest>(bytes: &[u8]) -> String {
    hex::encode(D::digest(bytes))
}

/// Password logins Keystone has served (from its request log).
fn keystone_logins(rig: &Rig) -> usize {
    std::fs::read_to_string(rig.dir.path().join("logs/keystone.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("POST /v3/auth/tokens =>"))
        .count()
}

/// Active images of this recipe named `name` on Glance `which`, newest first.
fn ours(rig: &Rig, which: &str, token: &str, name: &str) -> Vec<Value> {
    rig.images(
        which,
        token,
        &format!("name={name}&pipeline_owner=pipeline:glance&sort=created_at:desc"),
    )
}

#[test]
fn every_cell_goes_to_both_clouds_with_its_properties_and_latest_finds_them() {
    let _vm = vm_lock();
    let rig = Rig::start();
    let clouds = rig.clouds_yaml();
    let sb = Sandbox::new();
    recipe(
        &["one", "two"],
        vec![
            Target::openstack("a", "cloud-a", 2),
            Target::openstack("b", "cloud-b", 2),
            Target::directory("local", "images", 2),
        ],
    )
    .write(&sb);

    // plan and validate never touch the network: they work with the clouds down.
    let o = run(
        &sb,
        Path::new("/nonexistent/clouds.yaml"),
        &["plan", "glance.toml"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    redacted().bind(|| insta::assert_snapshot!("plan-two-clouds", stdout(&o)));

    let logins_before = keystone_logins(&rig);
    let o = run(&sb, &clouds, &["run", "glance.toml", "--jobs", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One login per cloud for the whole run (4 uploads, 4 prunes).
    assert_eq!(keystone_logins(&rig) - logins_before, 2);
    redacted().bind(|| insta::assert_snapshot!("run-two-clouds", run_result(&o)));

    let token = rig.ci_token();
    let latest = latest(&sb, &clouds);
    assert_eq!(latest.as_array().unwrap().len(), 2);
    let table = run(&sb, &clouds, &["latest", "glance.toml"]);
    assert!(table.status.success(), "{}", stderr(&table));
    redacted().bind(|| {
        insta::assert_json_snapshot!("latest-two-clouds-json", latest);
        insta::assert_snapshot!("latest-two-clouds", stdout(&table));
    });
    for (cell, case) in latest.as_array().unwrap().iter().zip(["one", "two"]) {
        let name = format!("gl-tiny-x64-case-{case}");
        assert_eq!(cell["image_name"], name);
        let local = sb.path().join("images").join(format!("{name}/1.qcow2"));
        let bytes = std::fs::read(&local).unwrap();
        for (target, which) in [("a", "a"), ("b", "b")] {
            let found = ours(&rig, which, &token, &name);
            assert_eq!(found.len(), 1, "{name} on {which}: {found:?}");
            let img = &found[0];
            assert_eq!(
                cell["images"][target], img["id"],
                "latest of {name} on {target}"
            );
            assert_eq!(img["status"], "active");
            assert_eq!(img["visibility"], "private");
            assert_eq!(img["disk_format"], "qcow2");
            assert_eq!(img["container_format"], "bare");
            assert_eq!(img["architecture"], "x86_64");
            assert_eq!(img["os_distro"], "debian");
            assert_eq!(img["os_version"], "12");
            assert_eq!(img["pipeline_owner"], "pipeline:glance");
            assert_eq!(img["pipeline_base"], "tiny");
            assert_eq!(img["pipeline_case"], case);
            assert_eq!(img["pipeline_sha256"], hex_digest::<Sha256>(&bytes));
            assert_eq!(
                img["pipeline_recipe_hash"],
                hex_digest::<Sha256>(&std::fs::read(sb.path().join("glance.toml")).unwrap())
            );
            assert_eq!(img["size"], bytes.len());
            assert_eq!(img["checksum"], hex_digest::<Md5>(&bytes));
            assert_eq!(img["os_hash_algo"], "sha512");
            assert_eq!(img["os_hash_value"], hex_digest::<Sha512>(&bytes));
            // What Glance serves is what was built.
            let id = img["id"].as_str().unwrap();
            assert!(
                rig.download(which, &token, id) == bytes,
                "{name} on {which} differs"
            );
        }
    }
    // Nothing else was left in either Glance (no queued or saving image).
    let admin = rig.admin_token();
    for which in ["a", "b"] {
        let all = rig.images(which, &admin, "visibility=all");
        assert_eq!(all.len(), 2, "{which}: {all:?}");
    }
}

#[test]
fn three_runs_keep_the_two_newest_and_never_touch_foreign_images() {
    let _vm = vm_lock();
    let rig = Rig::start();
    let clouds = rig.clouds_yaml();
    let sb = Sandbox::new();
    let name = "gl-tiny-x64-case-k";
    recipe(
        &["k"],
        vec![
            Target::openstack("a", "cloud-a", 2),
            Target::openstack("b", "cloud-b", 2),
        ],
    )
    .write(&sb);

    // Same name, made by hand: one without the ownership property (ci's
    // own project), one owned by another recipe, one by the admin project.
    let ci = rig.ci_token();
    let admin = rig.admin_token();
    let data = sb.path().join("foreign.qcow2");
    assert!(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&data)
            .arg("1M")
            .status()
            .unwrap()
            .success()
    );
    let base = json!({"name": name, "disk_format": "qcow2", "container_format": "bare"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let mut foreign = Vec::new();
    for which in ["a", "b"] {
        foreign.push((
            which,
            rig.create_image(which, &ci, with(json!({"visibility": "private"})), &data),
        ));
        foreign.push((
            which,
            rig.create_image(
                which,
                &ci,
                with(json!({"pipeline_owner": "pipeline:other"})),
                &data,
            ),
        ));
        foreign.push((
            which,
            rig.create_image(
                which,
                &admin,
                with(json!({"pipeline_owner": "pipeline:glance"})),
                &data,
            ),
        ));
    }

    let mut made: Vec<Value> = Vec::new();
    for run_no in 1..=3 {
        let args = if run_no == 1 {
            vec!["run", "glance.toml"]
        } else {
            rerun_args()
        };
        let o = run(&sb, &clouds, &args);
        assert!(o.status.success(), "run {run_no}: {}", stderr(&o));
        let l = latest(&sb, &clouds);
        made.push(l[0]["images"].clone());
        for which in ["a", "b"] {
            let found: Vec<Value> = ours(&rig, which, &ci, name)
                .into_iter()
                .filter(|i| !foreign.iter().any(|(_, id)| i["id"] == id.as_str()))
                .map(|i| i["id"].clone())
                .collect();
            let expected: Vec<Value> = made
                .iter()
                .rev()
                .take(2)
                .map(|m| m[which].clone())
                .collect();
            assert_eq!(found, expected, "run {run_no} on {which}");
        }
    }
    // Three different revisions were made; the first is gone everywhere.
    assert_ne!(made[0]["a"], made[1]["a"]);
    assert_ne!(made[1]["b"], made[2]["b"]);
    // Every foreign image survived.
    for (which, id) in &foreign {
        let url = format!("{}/v2/images/{id}", rig.glance_url(which));
        let (status, img) = rig.api("GET", &url, &admin, None);
        assert_eq!(status, 200, "foreign {id} on {which}: {img}");
        assert_eq!(img["status"], "active");
    }
    // prune finds nothing more to delete.
    let o = run(&sb, &clouds, &["prune", "glance.toml", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    redacted().bind(|| insta::assert_snapshot!("prune-dry-run-nothing", output(&o)));
}

/// The tiny image with 400 MB of random data past its partition, so an
/// upload lasts a few seconds.
fn big_base(dir: &Path) -> (PathBuf, String) {
    let tiny = fixture("tiny-image.sh");
    let raw = dir.join("big.raw");
    let qcow2 = dir.join("big.qcow2");
    let script = format!(
        "set -e; qemu-img convert -O raw '{}' '{raw}'; truncate -s 640M '{raw}'; \
         head -c 400M /dev/urandom | dd of='{raw}' bs=1M seek=200 conv=notrunc status=none; \
         qemu-img convert -O qcow2 '{raw}' '{qcow2}'; rm '{raw}'",
        tiny.display(),
        raw = raw.display(),
        qcow2 = qcow2.display()
    );
    sh(&script);
    let sha = hex::encode(Sha256::digest(std::fs::read(&qcow2).unwrap()));
    (qcow2, sha)
}

#[test]
fn killing_glance_mid_upload_leaves_no_partial_image_and_the_previous_revision_stays() {
    let _vm = vm_lock();
    let rig = Rig::start();
    let clouds = rig.clouds_yaml();
    let sb = Sandbox::new();
    let (base, sha) = big_base(sb.path());
    recipe(&["big"], vec![Target::openstack("a", "cloud-a", 2)])
        .base(&base, &sha)
        .write(&sb);
    let o = run(&sb, &clouds, &["run", "glance.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = latest(&sb, &clouds)[0]["images"]["a"].clone();
    let previous = before.as_str().unwrap().to_owned();

    let mut child = command(&sb, &clouds, &rerun_args())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Arc::new(Mutex::new(String::new()));
    let reader = {
        let err = err.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut e = err.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        })
    };
    // Kill Glance A once 100 MB of the new image are in its store.
    let store = rig.glance_store("a");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "the upload never started:\n{}",
            err.lock().unwrap()
        );
        let growing = std::fs::read_dir(&store)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name() != previous.as_str()
                    && e.metadata().is_ok_and(|m| m.len() > 100 << 20)
            });
        if growing {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.stop_glance("a", true);
    // Every attempt fails while Glance is down; then bring it back, and the
    // tool, before it exits, deletes what it had created.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !err.lock().unwrap().contains(": failed after ") {
        assert!(
            Instant::now() < deadline,
            "the upload did not fail:\n{}",
            err.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rig.start_glance("a");
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let err = err.lock().unwrap().clone();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("attempt 2 failed, retrying"), "{err}");
    assert!(
        err.contains("deleting 1 partial image(s) from cloud `cloud-a`"),
        "{err}"
    );
    assert!(!err.contains("could not delete"), "{err}");
    redacted().bind(|| insta::assert_snapshot!("run-glance-killed", run_summary(&err)));

    let admin = rig.admin_token();
    let all = rig.images("a", &admin, "visibility=all");
    let statuses: Vec<(&str, &str)> = all
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(previous.as_str(), "active")], "{all:?}");
    assert_eq!(latest(&sb, &clouds)[0]["images"]["a"], before);
}

#[test]
fn a_wrong_password_and_an_unknown_cloud_fail_clearly_and_create_nothing() {
    let _vm = vm_lock();
    let rig = Rig::start();
    let sb = Sandbox::new();
    // The rig's clouds plus one with a wrong password.
    let yaml = rig.clouds_yaml_with("bad-password", "not-the-password", "RegionOne");
    let clouds = sb.write("my-clouds.yaml", &yaml);

    recipe(&["p"], vec![Target::openstack("a", "bad-password", 2)]).write(&sb);
    let o = run(&sb, &clouds, &["run", "glance.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "authentication failed for cloud `bad-password` as user `ci-user`: the request you have made requires authentication. (http 401"
        ),
        "{err}"
    );
    // Authentication is not retried: one attempt, not three.
    assert!(!err.contains("retrying"), "{err}");
    redacted().bind(|| insta::assert_snapshot!("run-wrong-password", run_result(&o)));
    let o = run(&sb, &clouds, &["latest", "glance.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("authentication failed for cloud `bad-password`"),
        "{}",
        stderr(&o)
    );
    redacted().bind(|| insta::assert_snapshot!("latest-wrong-password", output(&o)));

    let sb = Sandbox::new();
    recipe(&["p"], vec![Target::openstack("a", "no-such-cloud", 2)]).write(&sb);
    let o = run(&sb, &clouds, &["run", "glance.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "target `a` (openstack cloud `no-such-cloud`): unknown cloud `no-such-cloud`: clouds found: `admin`, `admin-b`, `bad-password`, `cloud-a`, `cloud-b` (read {})",
            clouds.display()
        )),
        "{err}"
    );
    redacted().bind(|| insta::assert_snapshot!("run-unknown-cloud", output(&o)));
    // Failed before anything started: no run, no VM, no image.
    assert!(!sb.path().join("state/runs").exists(), "a run started");
    let admin = rig.admin_token();
    for which in ["a", "b"] {
        assert_eq!(
            rig.images(which, &admin, "visibility=all"),
            Vec::<Value>::new()
        );
    }
}

/// A qcow2 with `mib` MiB of random data: path, SHA-256, size.
fn random_qcow2(dir: &Path, name: &str, mib: u32) -> (Utf8PathBuf, String, u64) {
    let raw = dir.join(format!("{name}.raw"));
    let qcow2 = dir.join(format!("{name}.qcow2"));
    let script = format!(
        "set -e; head -c {mib}M /dev/urandom > '{raw}'; qemu-img convert -O qcow2 '{raw}' '{qcow2}'; rm '{raw}'",
        raw = raw.display(),
        qcow2 = qcow2.display()
    );
    sh(&script);
    let bytes = std::fs::read(&qcow2).unwrap();
    let path = Utf8PathBuf::from_path_buf(qcow2).unwrap();
    (path, hex_digest::<Sha256>(&bytes), bytes.len() as u64)
}

const API_OWNER: &str = "pipeline:api";

fn api_meta(name: &str, file: &(Utf8PathBuf, String, u64)) -> ImageMeta {
    ImageMeta {
        name: name.to_owned(),
        owner: API_OWNER.to_owned(),
        arch: "x64".to_owned(),
        base: "noble".to_owned(),
        cell: [("base", "noble"), ("juju", "3.1/stable"), ("microk8s", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        sha256: file.1.clone(),
        size: file.2,
        recipe_hash: "ab".repeat(32),
        input_key: Some("cd".repeat(32)),
        inputs: [("base".to_owned(), "ef".repeat(32))].into_iter().collect(),
        os_distro: Some("ubuntu".to_owned()),
        os_version: Some("24.04".to_owned()),
    }
}

/// The store itself (no VM): parallel uploads to two clouds on one login
/// each, listing, metadata round trip, manifests, refusals, failures that
/// The file as an artifact with the size and SHA-256 that `meta` claims.
fn artifact(file: &camino::Utf8Path, meta: &pipeline::targets::ImageMeta) -> Artifact {
    Artifact::file(file.to_owned(), meta.sha256.clone(), meta.size, Value::Null)
}

/// leave nothing behind, quota and catalog errors.
#[test]
fn the_store_against_a_real_cloud() {
    let rig = Rig::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clouds = dir.join("clouds.yaml");
    let yaml = rig.clouds_yaml_with("cloud-c", "ci-password", "RegionThree");
    std::fs::write(&clouds, yaml).unwrap();
    let env = ConfigEnv::new(dir, None).with_var("OS_CLIENT_CONFIG_FILE", clouds.to_str().unwrap());
    let open = |cloud: &str| {
        OpenstackStore::new(
            &format!("t-{cloud}"),
            CloudConfig::resolve(cloud, &env).unwrap(),
            Visibility::Private,
        )
    };
    let (a, b) = (open("cloud-a"), open("cloud-b"));
    let files: Vec<_> = (1..=3)
        .map(|i| random_qcow2(dir, &format!("f{i}"), i))
        .collect();
    let ci = rig.ci_token();
    let admin = rig.admin_token();
    let none = CancelToken::new();

    // Both clouds at once, three uploads each: one login per cloud.
    let made: Vec<(usize, Revision)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (c, store) in [&a, &b].into_iter().enumerate() {
            for (i, f) in files.iter().enumerate() {
                let none = &none;
                handles.push(s.spawn(move || {
                    let meta = api_meta(&format!("api-par-{i}"), f);
                    (
                        c,
                        store
                            .upload(&artifact(&f.0, &meta), &meta, none, &|_| {})
                            .unwrap(),
                    )
                }));
            }
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(made.len(), 6);
    assert_eq!((a.session().auth_count(), b.session().auth_count()), (1, 1));
    for (c, rev) in &made {
        let store = [&a, &b][*c];
        assert_eq!(
            store.list(&rev.meta.name, API_OWNER).unwrap().revisions,
            std::slice::from_ref(rev)
        );
    }

    // Newest first; the metadata comes back whole from the properties.
    let name = "api-seq";
    let mut revs = Vec::new();
    for f in &files {
        revs.push(
            a.upload(
                &artifact(&f.0, &api_meta(name, f)),
                &api_meta(name, f),
                &none,
                &|_| {},
            )
            .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    let listed = a.list(name, API_OWNER).unwrap().revisions;
    revs.reverse();
    assert_eq!(listed, revs);
    assert_eq!(listed[0].meta, api_meta(name, &files[2]));
    assert!(a.list(name, "pipeline:other").unwrap().revisions.is_empty());
    assert!(b.list(name, API_OWNER).unwrap().revisions.is_empty());

    // The manifest: whole when small, a compact subset when too long.
    let image_url = |id: &str| format!("{}/v2/images/{id}", rig.glance_url("a"));
    let manifest = json!({"image_name": name, "images": {"t-cloud-a": listed[0].id}});
    a.attach_manifest(&listed[0], &manifest).unwrap();
    let (_, img) = rig.api("GET", &image_url(&listed[0].id), &ci, None);
    let stored: Value = serde_json::from_str(img["pipeline_manifest"].as_str().unwrap()).unwrap();
    assert_eq!(stored, manifest);
    let big = json!({"image_name": name, "timings": {"boot": "x".repeat(100_000)}});
    a.attach_manifest(&listed[1], &big).unwrap();
    let (_, img) = rig.api("GET", &image_url(&listed[1].id), &ci, None);
    let text = img["pipeline_manifest"].as_str().unwrap();
    assert!(text.len() <= 65_535, "{}", text.len());
    let stored: Value = serde_json::from_str(text).unwrap();
    assert_eq!(stored["image_name"], name);
    assert_eq!(stored["pipeline_truncated"]["omitted"], json!(["timings"]));
    // Listing still works with the manifests on.
    assert_eq!(a.list(name, API_OWNER).unwrap().revisions.len(), 3);

    // Delete: re-read first, refuse what is not ours, gone is fine.
    let foreign = rig.create_image(
        "a",
        &ci,
        json!({"name": name, "disk_format": "qcow2", "container_format": "bare",
               "pipeline_owner": "pipeline:other"}),
        files[0].0.as_std_path(),
    );
    let disguised = Revision {
        id: foreign.clone(),
        ..listed[2].clone()
    };
    let err = a.delete(&disguised).unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "refusing to delete {foreign:?} from target `t-cloud-a`: its pipeline_owner is `pipeline:other`, not `{API_OWNER}`"
        )
    );
    let err = a
        .delete(&Revision {
            id: "../../v3".into(),
            ..listed[2].clone()
        })
        .unwrap_err();
    assert!(
        err.message.starts_with("refusing to delete"),
        "{}",
        err.message
    );
    a.delete(&listed[2]).unwrap();
    a.delete(&listed[2]).unwrap();
    assert_eq!(a.list(name, API_OWNER).unwrap().revisions, listed[..2]);

    // An image of ours still queued (an upload that may be running) is not
    // counted nor mentioned; a deactivated one is not counted and is named
    // in a warning, and left alone.
    let (status, queued) = rig.api(
        "POST",
        &format!("{}/v2/images", rig.glance_url("a")),
        &ci,
        Some(
            json!({"name": name, "disk_format": "qcow2", "container_format": "bare",
                    "pipeline_owner": API_OWNER}),
        ),
    );
    assert_eq!(status, 201, "{queued}");
    let action = |id: &str, what: &str| {
        let url = format!("{}/actions/{what}", image_url(id));
        let (status, body) = rig.api("POST", &url, &admin, None);
        assert_eq!(status, 204, "{what}: {body}");
    };
    action(&listed[1].id, "deactivate");
    let listing = a.list(name, API_OWNER).unwrap();
    assert_eq!(listing.revisions, listed[..1]);
    assert!(listing.damaged.is_empty());
    assert_eq!(
        listing.warnings,
        [format!(
            "target `t-cloud-a`: image {} on cloud `cloud-a`: deactivated (by an administrator): not counted, left alone",
            listed[1].id
        )]
    );
    action(&listed[1].id, "reactivate");
    let (status, _) = rig.api(
        "DELETE",
        &image_url(queued["id"].as_str().unwrap()),
        &ci,
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(
        a.list(name, API_OWNER).unwrap(),
        Listing {
            revisions: listed[..2].to_vec(),
            ..Listing::default()
        }
    );
    assert_eq!(
        rig.api("GET", &image_url(&foreign), &ci, None).1["status"],
        "active"
    );

    // Failures after the image was created leave nothing behind.
    let mut wrong = api_meta("api-bad-sha", &files[0]);
    wrong.sha256 = "0".repeat(64);
    let err = a
        .upload(&artifact(&files[0].0, &wrong), &wrong, &none, &|_| {})
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.message.starts_with("checksum mismatch uploading "),
        "{}",
        err.message
    );

    let large = random_qcow2(dir, "large", 24);
    let cancel = CancelToken::new();
    let err = a
        .upload(
            &artifact(&large.0, &api_meta("api-cancel", &large)),
            &api_meta("api-cancel", &large),
            &cancel,
            &|_| cancel.cancel(),
        )
        .unwrap_err();
    assert_eq!(err, pipeline::step::StepError::cancelled());

    // Glance's property quota (128) is a real 413.
    let mut crowded = api_meta("api-quota", &files[0]);
    for i in 0..130 {
        crowded.cell.insert(format!("axis{i}"), "v".into());
    }
    let err = a
        .upload(&artifact(&files[0].0, &crowded), &crowded, &none, &|_| {})
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.message.starts_with(
            "create image `api-quota` on cloud `cloud-a`: quota exceeded: the limit has been exceeded on the number of allowed image properties."
        ),
        "{}",
        err.message
    );
    assert!(err.message.ends_with("(http 413)"), "{}", err.message);
    for name in ["api-bad-sha", "api-cancel", "api-quota"] {
        let left = rig.images("a", &admin, &format!("visibility=all&name={name}"));
        assert_eq!(left, Vec::<Value>::new(), "{name}");
    }

    // A region without Glance: which one was looked for, and what exists.
    let err = open("cloud-c").list("x", API_OWNER).unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.message.starts_with(
            "find the image service of cloud `cloud-c`: no `image` endpoint for interface `public` in region `RegionThree` in the catalog; it has: "
        ),
        "{}",
        err.message
    );
    for endpoint in [
        "public in RegionOne",
        "internal in RegionOne",
        "public in RegionTwo",
        "internal in RegionTwo",
    ] {
        assert!(err.message.contains(endpoint), "{}", err.message);
    }
}

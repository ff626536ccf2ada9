//! `backend = "openstack"` against a real Nova (`tests/openstack/rig start
//! --nova`: Keystone, Glance, Placement, Nova with libvirt and QEMU under
//! TCG, on loopback), with the Debian cloud image and real cloud-init on a
//! config drive. One rig serves every test here (only one runs per
//! machine, and it takes ~20 s to start); it stops itself when this test
//! process exits.

use crate::support::{
    Rig, Sandbox, debugfs_cat, demo_recipe, repo, stderr, stdout, to_raw, vm_lock, with_clouds,
};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// The rig's build cloud, as the tests here look at it.
impl Rig {
    /// Every server of project ci: (name, id, metadata).
    fn servers(&self) -> Vec<(String, String, Value)> {
        let url = format!("{}/servers/detail", self.env("NOVA_URL"));
        let (status, answer) = self.api("GET", &url, &self.ci_token(), None);
        assert_eq!(status, 200, "{answer}");
        answer["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["id"].as_str().unwrap().to_owned(),
                    s["metadata"].clone(),
                )
            })
            .collect()
    }

    /// Every image of Glance a (the build cloud's) that project ci sees.
    fn build_images(&self) -> Vec<Value> {
        self.images("a", &self.ci_token(), "visibility=all")
    }

    /// Project ci's instance quota (as admin).
    fn set_instance_quota(&self, instances: i64) {
        let project = self.project_id(&self.env("CI_PROJECT"));
        let url = format!("{}/os-quota-sets/{project}", self.env("NOVA_URL"));
        let body = json!({"quota_set": {"instances": instances}});
        let (status, answer) = self.api("PUT", &url, &self.admin_token(), Some(body));
        assert_eq!(status, 200, "{answer}");
    }

    /// A server made by hand (not pipeline's owner), from a Glance a image.
    fn hand_made_server(&self, name: &str, image: &str) -> String {
        let url = format!("{}/servers", self.env("NOVA_URL"));
        let body = json!({"server": {
            "name": name, "imageRef": image, "flavorRef": self.env("FLAVOR_BUILDER_ID"),
            "networks": "none", "metadata": {"pipeline_owner": "someone:else"}}});
        let (status, answer) = self.api("POST", &url, &self.ci_token(), Some(body));
        assert_eq!(status, 202, "{answer}");
        answer["server"]["id"].as_str().unwrap().to_owned()
    }

    fn delete_server(&self, id: &str) {
        let url = format!("{}/servers/{id}", self.env("NOVA_URL"));
        self.api("DELETE", &url, &self.ci_token(), None);
    }

    /// An image in Glance a as ci-user, with `properties`, and no data.
    fn queued_image(&self, properties: Value) -> String {
        let url = format!("{}/v2/images", self.glance_url("a"));
        let (status, answer) = self.api("POST", &url, &self.ci_token(), Some(properties));
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_owned()
    }
}

/// The demo recipe as `file` (owner `pipeline:<its stem>`) building on the
/// rig's `cloud-a` with the `build` settings (`key = value` lines, replacing
/// the recipe's), its template replaced by `template` when given, into
/// `images` and the `targets` given (TOML `[[target]]` tables, after the
/// local one).
fn nova_recipe(sb: &Sandbox, file: &str, build: &[&str], template: Option<&str>, targets: &str) {
    let mut recipe = demo_recipe().replace(
        "[build]\n",
        "[build]\nbackend = \"openstack\"\ncloud = \"cloud-a\"\n",
    );
    for line in build {
        let key = line.split(" =").next().unwrap();
        let old = recipe
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .map(str::to_owned);
        recipe = match old {
            Some(old) => recipe.replace(&old, line),
            None => recipe.replace("[build]\n", &format!("[build]\n{line}\n")),
        };
    }
    if let Some(template) = template {
        sb.write("nova.sh.tera", template);
        let shipped = repo().join("templates/demo.sh.tera").display().to_string();
        recipe = recipe.replace(&shipped, "nova.sh.tera");
    }
    assert!(recipe.contains("backend = \"openstack\""));
    sb.write(file, &format!("{recipe}\n{targets}"));
}

fn run_on(rig: &Rig, sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = sb.command(args);
    with_clouds(&mut cmd, &rig.clouds_yaml());
    cmd
}

/// Wait until the run log of `sb` has a line containing `needle`.
fn wait_for_log(sb: &Sandbox, needle: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let found = sb.path().join("state/runs").exists()
            && std::panic::catch_unwind(|| sb.run_log()).is_ok_and(|log| log.contains(needle));
        if found {
            return;
        }
        assert!(start.elapsed() < limit, "no `{needle}` in the run log");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// No server of `owner` is left in the build cloud (Nova takes a moment to
/// forget a deleted one).
fn assert_no_server_of(rig: &Rig, owner: &str) {
    let start = Instant::now();
    loop {
        let ours: Vec<String> = rig
            .servers()
            .into_iter()
            .filter(|(_, _, m)| m["pipeline_owner"] == owner)
            .map(|(name, _, _)| name)
            .collect();
        if ours.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "servers left: {ours:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Restores ci's instance quota when dropped.
struct Quota<'r>(&'r Rig);

impl Drop for Quota<'_> {
    fn drop(&mut self) {
        self.0.set_instance_quota(10);
    }
}

#[test]
fn cells_build_on_nova_and_reach_every_target() {
    let _vm = vm_lock();
    let rig = Rig::nova();
    let sb = Sandbox::new();
    // Two servers asked for, room for one: the second waits for the first.
    rig.set_instance_quota(1);
    let _quota = Quota(rig);
    nova_recipe(
        &sb,
        "nova.toml",
        &["servers = 2", "compression = \"none\""],
        None,
        "[[target]]\nname = \"cloud-b\"\nkind = \"openstack\"\ncloud = \"cloud-b\"\nkeep = 3\n\n[[target]]\nname = \"cloud-a\"\nkind = \"openstack\"\ncloud = \"cloud-a\"\nkeep = 3\n",
    );
    let owner = "pipeline:nova";
    let o = run_on(
        rig,
        &sb,
        &["run", "nova.toml", "--only", "microk8s=", "--json"],
    )
    .output()
    .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let cells: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(cells.as_array().unwrap().len(), 2);
    let log = sb.run_log();
    assert!(
        log.contains("building 2 cells on cloud `cloud-a` with up to 2 servers at a time"),
        "{log}"
    );
    // One after the other: the server that built one cell was created after
    // the other cell's snapshot was done (and its server deleted).
    let lines: Vec<&str> = log.lines().collect();
    let last = |needle: &str| lines.iter().rposition(|l| l.contains(needle));
    let (a, b) = ("demo-bookworm-x64:", "demo-bookworm-x64-juju-3.1-stable:");
    let created = |cell: &str| {
        lines
            .iter()
            .rposition(|l| l.contains(&format!("boot {cell} server")) && l.contains("created"))
            .expect("a server was created")
    };
    let snapshotted = |cell: &str| last(&format!("snapshot {cell} done in")).expect("a snapshot");
    assert!(
        created(a) > snapshotted(b) || created(b) > snapshotted(a),
        "the two servers overlapped:\n{log}"
    );
    assert!(
        log.contains("waiting for another server of this run to finish"),
        "{log}"
    );

    let token = rig.ci_token();
    for cell in cells.as_array().unwrap() {
        assert_eq!(cell["status"], "built", "{cell}");
        let name = cell["image_name"].as_str().unwrap();
        // The provisioning script ran in the image that reached the store.
        let local = sb.path().join("images").join(format!("{name}/1.qcow2"));
        let raw = to_raw(&local, sb.path());
        let env = debugfs_cat(&raw, "/etc/pipeline-demo/cell.env").expect("cell.env");
        assert!(env.contains(&format!("IMAGE_NAME={name}\n")), "{env}");
        std::fs::remove_file(&raw).unwrap();
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(
                sb.path()
                    .join("images")
                    .join(format!("{name}/1.manifest.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let host = &manifest["host"];
        assert_eq!(host["backend"], "openstack", "{manifest}");
        // A server booted from the snapshot verified it before any target
        // got it (and is gone: see below).
        assert_eq!(manifest["verify"]["result"], "passed", "{manifest}");
        assert!(
            log.contains(&format!(
                "verify {name}: verify server pipeline-verify-{name}-"
            )),
            "{log}"
        );
        assert_eq!(host["cloud"], "cloud-a");
        assert_eq!(host["flavor"], "m1.builder");
        assert!(
            host["server"].is_string() && host["snapshot"].is_string(),
            "{host}"
        );
        // cloud-a adopted the snapshot itself: the revision is that image.
        let images = &cell["images"];
        let ids: Vec<&str> = images
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["target"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["local", "cloud-b", "cloud-a"]);
        assert_eq!(images[2]["id"], host["snapshot"], "{cell}");
        let url = format!(
            "{}/v2/images/{}",
            rig.env("GLANCE_A_URL"),
            host["snapshot"].as_str().unwrap()
        );
        let (_, adopted) = rig.api("GET", &url, &token, None);
        assert_eq!(adopted["name"], name);
        assert_eq!(adopted["pipeline_owner"], owner);
        assert!(adopted.get("pipeline_kind").is_none(), "{adopted}");
    }

    // latest names them on every target.
    let mut cmd = run_on(
        rig,
        &sb,
        &["latest", "nova.toml", "--only", "microk8s=", "--json"],
    );
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let latest: Value = serde_json::from_str(&stdout(&o)).unwrap();
    for (cell, built) in latest
        .as_array()
        .unwrap()
        .iter()
        .zip(cells.as_array().unwrap())
    {
        for image in built["images"].as_array().unwrap() {
            assert_eq!(
                cell["images"][image["target"].as_str().unwrap()],
                image["id"]
            );
        }
    }
    // Nothing is left in the build cloud but the staged base and the
    // adopted revisions.
    assert_no_server_of(rig, owner);
    let ours: Vec<Value> = rig
        .build_images()
        .into_iter()
        .filter(|i| i["pipeline_owner"] == owner)
        .collect();
    let kinds: Vec<&str> = ours
        .iter()
        .filter_map(|i| i["pipeline_kind"].as_str())
        .collect();
    assert_eq!(kinds, ["base"], "{ours:#?}");
    assert_eq!(ours.len(), 3, "{ours:#?}");

    // A rerun with nothing changed creates no server.
    let o = run_on(rig, &sb, &["run", "nova.toml", "--only", "microk8s="])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("nothing to do: 2 cells up to date"), "{err}");
    assert!(
        !sb.run_log().contains("created with flavor"),
        "{}",
        sb.run_log()
    );
    assert_no_server_of(rig, owner);
}

const FAILING: &str = "#!/bin/sh\necho 'about to fail on purpose'\nexit 1\n";

#[test]
fn failures_on_nova_leave_no_server_and_a_killed_run_is_cleaned_up_next_time() {
    let _vm = vm_lock();
    let rig = Rig::nova();
    let owner = "pipeline:novafail";

    // A script that exits 1: the cell fails with the console's tail.
    let sb = Sandbox::new();
    nova_recipe(&sb, "novafail.toml", &[], Some(FAILING), "");
    let one = ["--only", "juju=", "--only", "microk8s="];
    let o = run_on(rig, &sb, &[&["run", "novafail.toml"][..], &one].concat())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the provisioning script exited with 1; last console lines:"),
        "{err}"
    );
    assert!(err.contains("about to fail on purpose"), "{err}");
    assert_no_server_of(rig, owner);

    // A timeout: the server is deleted, exit 1.
    let sb = Sandbox::new();
    nova_recipe(&sb, "novafail.toml", &["timeout = \"25s\""], None, "");
    let o = run_on(rig, &sb, &[&["run", "novafail.toml"][..], &one].concat())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the guest did not report within 25s and the server was deleted"),
        "{err}"
    );
    assert_no_server_of(rig, owner);

    // Ctrl-C while the guest boots: ended by the SIGINT (130), no server.
    let (sb, mut child) = start_novafail(rig, &one);
    wait_for_log(
        &sb,
        "is active; waiting for the guest",
        Duration::from_secs(120),
    );
    signal(&child, rustix::process::Signal::INT);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.wait().unwrap()),
        Some(rustix::process::Signal::INT.as_raw())
    );
    assert_no_server_of(rig, owner);

    // SIGKILL while a server boots: the server stays behind...
    let (sb, mut child) = start_novafail(rig, &one);
    wait_for_log(&sb, "created with flavor", Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<(String, String, Value)> = rig
        .servers()
        .into_iter()
        .filter(|(_, _, m)| m["pipeline_owner"] == owner)
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    // ...beside a server made by hand with a similar name, and a staged base
    // of a base the recipe no longer uses.
    let base = rig
        .build_images()
        .into_iter()
        .find(|i| i["pipeline_owner"] == owner && i["pipeline_kind"] == "base")
        .expect("the staged base");
    let hand = rig.hand_made_server(
        &format!("{}-by-hand", left[0].0),
        base["id"].as_str().unwrap(),
    );
    let stale = rig.queued_image(json!({
        "name": "pipeline-base-old", "disk_format": "qcow2", "container_format": "bare",
        "pipeline_owner": owner, "pipeline_kind": "base", "pipeline_base_sha256": "0".repeat(64)}));
    // The next run deletes what the killed one left, says so, and builds.
    nova_recipe(&sb, "novafail.toml", &["timeout = \"25s\""], None, "");
    let o = run_on(rig, &sb, &[&["run", "novafail.toml"][..], &one].concat())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "deleted server {} ({}) on cloud `cloud-a`, left by run ",
            left[0].0, left[0].1
        )),
        "{err}"
    );
    assert!(err.contains("deleted image pipeline-base-old"), "{err}");
    assert!(
        err.contains("created with flavor"),
        "the run did not go on to build:\n{err}"
    );
    let names: Vec<String> = rig.servers().into_iter().map(|(n, _, _)| n).collect();
    assert!(
        names.contains(&format!("{}-by-hand", left[0].0)),
        "{names:?}"
    );
    assert!(!rig.build_images().iter().any(|i| i["id"] == stale.as_str()));
    rig.delete_server(&hand);
    assert_no_server_of(rig, owner);

    // Secrets with this backend: refused before anything is created.
    let servers = rig.servers().len();
    let images = rig.build_images().len();
    let mut cmd = run_on(rig, &sb, &[&["run", "novafail.toml"][..], &one].concat());
    cmd.env("PIPELINE_SECRET_TOKEN", "s3cret-value");
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`backend = \"openstack\"` cannot take secrets yet"),
        "{err}"
    );
    assert!(!err.contains("s3cret-value"), "{err}");
    let mut cmd = run_on(rig, &sb, &["validate", "novafail.toml"]);
    cmd.env("PIPELINE_SECRET_TOKEN", "s3cret-value");
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
    assert_eq!(
        (rig.servers().len(), rig.build_images().len()),
        (servers, images)
    );
}

/// `run novafail.toml` (the default build) with `args`, started in a
/// sandbox of its own and left running.
fn start_novafail(rig: &Rig, args: &[&str]) -> (Sandbox, std::process::Child) {
    let sb = Sandbox::new();
    nova_recipe(&sb, "novafail.toml", &[], None, "");
    let child = run_on(rig, &sb, &[&["run", "novafail.toml"][..], args].concat())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (sb, child)
}

fn signal(child: &std::process::Child, signal: rustix::process::Signal) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        signal,
    )
    .unwrap();
}

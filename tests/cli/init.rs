//! `pipeline init`: what a first run needs, prepared and checked, every
//! item reported; idempotent.

use crate::support::{Rig, Sandbox, demo_recipe, stderr, stdout, with_clouds};
use serde_json::Value;

fn statuses(o: &std::process::Output) -> Vec<(String, String)> {
    let items: Value = serde_json::from_str(&stdout(o)).unwrap();
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `init` of the demo with one more target, cloud `cloud` of `clouds`
/// (keep 3), which must be its one problem: that target's line, and all
/// of stdout.
fn init_with_a_problem_cloud(
    sb: &Sandbox,
    clouds: &std::path::Path,
    cloud: &str,
) -> (String, String) {
    let recipe = format!(
        "{}\n[[target]]\nname = \"{cloud}\"\nkind = \"openstack\"\ncloud = \"{cloud}\"\nkeep = 3\n",
        demo_recipe()
    );
    sb.write("demo.toml", &recipe);
    // The sandbox made the directory store as init does: a first init
    // makes it here.
    std::fs::remove_dir_all(sb.path().join("images")).unwrap();
    let mut cmd = sb.command(&["init", "demo.toml"]);
    with_clouds(&mut cmd, clouds);
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("demo.toml is not ready: 1 problem"), "{err}");
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains(&format!("target {cloud}")))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert!(line.starts_with("problem"), "{line}");
    (line, out)
}

#[test]
fn init_prepares_the_demo_once_and_then_says_everything_is_ok() {
    let sb = Sandbox::new();
    sb.write("demo.toml", &demo_recipe());
    // The sandbox made the store as init does: here init makes it.
    std::fs::remove_dir_all(sb.path().join("images")).unwrap();
    let o = sb.run(&["init", "demo.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = statuses(&o);
    let items: Vec<&str> = first.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        items,
        [
            "base bookworm",
            "qemu-system-x86_64",
            "qemu-img",
            "accelerator",
            "disk (cache)",
            "disk (state)",
            "memory",
            "target local",
        ]
    );
    let status_of = |checks: &[(String, String)], item: &str| {
        checks.iter().find(|(i, _)| i == item).unwrap().1.clone()
    };
    // The base is fetched, verified and cached now; the store made.
    assert_eq!(status_of(&first, "base bookworm"), "created");
    assert_eq!(status_of(&first, "target local"), "created");
    let cached: Vec<_> = std::fs::read_dir(sb.path().join("cache/bases"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        sb.path()
            .join("images")
            .join(pipeline::targets::MARKER)
            .is_file()
    );
    // What the target must hold says what it counts, and adds up.
    let items: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let detail = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "target local")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    let counted = regex::Regex::new(
        r"; (\d+) images \((\d+) cells? × (\d+) revisions: keep \d+, and 1 being uploaded\) of about (\d+) MiB take about (\d+) MiB",
    )
    .unwrap();
    let n = counted
        .captures(&detail)
        .unwrap_or_else(|| panic!("{detail}"));
    let n = |i: usize| n[i].parse::<u64>().unwrap();
    assert_eq!(n(1), n(2) * n(3), "{detail}");
    assert_eq!(n(5), n(1) * n(4), "{detail}");
    // Again: nothing to do, everything ok.
    let o = sb.run(&["init", "demo.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let second = statuses(&o);
    assert!(second.iter().all(|(_, s)| s == "ok"), "{second:?}");
    assert!(
        stderr(&o).contains("demo.toml is ready: nothing to do"),
        "{}",
        stderr(&o)
    );
    // The text form says the same, one line per item.
    let o = sb.run(&["init", "demo.toml"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.starts_with("STATUS  ITEM"), "{text}");
    assert_eq!(text.lines().count(), 1 + second.len(), "{text}");
}

#[test]
fn a_wrong_password_is_a_problem_named_before_any_build() {
    let rig = Rig::start();
    let sb = Sandbox::new();
    let clouds = sb.write(
        "clouds.yaml",
        &rig.clouds_yaml_with("broken", "not-the-password", "RegionOne"),
    );
    let (line, _) = init_with_a_problem_cloud(&sb, &clouds, "broken");
    assert!(
        line.contains("authentication failed for cloud `broken` as user `ci-user`"),
        "{line}"
    );
    // Nothing was created in the cloud.
    let images = rig.images("a", &rig.ci_token(), "visibility=all");
    assert!(images.is_empty(), "{images:?}");
}

#[test]
fn an_image_quota_too_small_for_keep_plus_one_is_a_problem() {
    // A rig of its own: the limit set here reaches no other test.
    let rig = Rig::start();
    // Keystone unified limits, which the rig's Glances enforce: room for 5
    // images in cloud-a's region, where 4 cells × (keep 3 + 1) need 16.
    let (status, answer) = rig.api(
        "POST",
        &format!("{}/limits", rig.env("KEYSTONE_URL")),
        &rig.admin_token(),
        Some(serde_json::json!({"limits": [{
            "service_id": rig.env("GLANCE_SERVICE_ID"),
            "region_id": rig.env("GLANCE_A_REGION"),
            "project_id": rig.env("CI_PROJECT_ID"),
            "resource_name": "image_count_total",
            "resource_limit": 5,
        }]})),
    );
    assert_eq!(status, 201, "{answer}");
    let sb = Sandbox::new();
    let (line, out) = init_with_a_problem_cloud(&sb, &rig.clouds_yaml(), "cloud-a");
    assert!(
        line.contains(
            "the image quota is too small for keep + 1 = 4 revisions of 4 cell(s) (images: room for 5, needs 16)"
        ),
        "{line}"
    );
    // The directory target, which has the room, is made and no problem.
    assert!(
        out.lines()
            .any(|l| l.starts_with("created") && l.contains("target local")),
        "{out}"
    );
}

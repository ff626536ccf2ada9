use crate::support::{
    Recipe, Sandbox, Target, feed, ok, redacted, run, stderr, stdout, write_current_revision,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(&all)).unwrap()
}

/// The image names of a JSON plan's cells, in order.
fn image_names(plan: &Value) -> Vec<&str> {
    plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image_name"].as_str().unwrap())
        .collect()
}

#[test]
fn runner_recipe_has_18_cells_with_conventional_names() {
    let plan = plan_json(&["recipes/github-runner.toml"]);
    let names = image_names(&plan);
    let mut expected = Vec::new();
    for base in ["jammy", "noble"] {
        for juju in ["", "-juju-3.1-stable", "-juju-2.9-stable"] {
            for mk8s in ["", "-mk8s-1.28-strict-stable", "-mk8s-1.29-strict-edge"] {
                expected.push(format!("github-runner-{base}-x64{juju}{mk8s}"));
            }
        }
    }
    expected.sort();
    assert_eq!(names, expected);
    assert!(names.contains(&"github-runner-noble-x64-juju-3.1-stable-mk8s-1.28-strict-stable"));
}

#[test]
fn one_fetch_per_base_shared_by_every_cell() {
    let plan = plan_json(&["recipes/github-runner.toml"]);
    let steps = plan["steps"].as_array().unwrap();
    let fetches: Vec<&str> = steps
        .iter()
        .filter(|s| s["kind"] == "fetch")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(fetches, ["fetch:jammy", "fetch:noble"]);
    // Every boot waits for its base's one fetch; each fetch feeds 9 boots.
    let mut boots_per_fetch: BTreeMap<&str, usize> = BTreeMap::new();
    for s in steps.iter().filter(|s| s["kind"] == "boot") {
        let needs: Vec<&str> = s["needs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let fetch: Vec<&&str> = needs.iter().filter(|n| n.starts_with("fetch:")).collect();
        assert_eq!(fetch.len(), 1, "{s}");
        let cell = s["cell"].as_str().unwrap();
        assert!(
            cell.contains(&fetch[0]["fetch:".len()..]),
            "{cell} fetches {}",
            fetch[0]
        );
        *boots_per_fetch.entry(fetch[0]).or_default() += 1;
    }
    assert_eq!(boots_per_fetch.values().collect::<Vec<_>>(), [&9, &9]);
    // 2 fetches + 18 × (render, seed, boot, snapshot, verify, record)
    // + 18 × 2 targets × (upload, prune)
    assert_eq!(steps.len(), 2 + 18 * 6 + 18 * 2 * 2);
}

#[test]
fn a_selection_fetches_only_the_bases_it_uses() {
    let plan = plan_json(&[
        "recipes/github-runner.toml",
        "--only",
        "base=noble",
        "--only",
        "juju=3.1/stable",
    ]);
    assert_eq!(plan["cells"].as_array().unwrap().len(), 3);
    let fetches: Vec<&Value> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "fetch")
        .collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0]["id"], "fetch:noble");
}

#[test]
fn steps_come_in_dependency_order() {
    let plan = plan_json(&["recipes/github-runner.toml"]);
    let mut done = BTreeSet::new();
    for s in plan["steps"].as_array().unwrap() {
        for need in s["needs"].as_array().unwrap() {
            assert!(
                done.contains(need.as_str().unwrap()),
                "{} before {need}",
                s["id"]
            );
        }
        done.insert(s["id"].as_str().unwrap().to_owned());
    }
}

#[test]
fn output_is_deterministic_whatever_the_order_written() {
    let a = ok(&["plan", "recipes/github-runner.toml"]);
    assert_eq!(a, ok(&["plan", "recipes/github-runner.toml"]));
    let mut x = plan_json(&["recipes/github-runner.toml"]);
    let mut y = plan_json(&["tests/recipes/reordered.toml"]);
    // Only the recipe path, the target table and axis order may differ.
    for v in [&mut x, &mut y] {
        v["recipe"] = Value::Null;
    }
    assert_eq!(x["cells"].as_array().unwrap().len(), 18);
    let names = |v: &Value| -> Vec<String> {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&x), names(&y));
}

#[test]
fn text_plan_snapshot() {
    let out = ok(&[
        "plan",
        "recipes/github-runner.toml",
        "--only",
        "base=noble",
        "--only",
        "microk8s=",
    ]);
    insta::assert_snapshot!("plan-noble-no-microk8s", out);
}

#[test]
fn json_plan_snapshot() {
    let plan = plan_json(&[
        "recipes/github-runner.toml",
        "--only",
        "base=noble",
        "--only",
        "juju=",
        "--only",
        "microk8s=",
    ]);
    redacted().bind(|| insta::assert_json_snapshot!("plan-json-noble-x64", plan));
}

/// `plan --status` without a VM: a store with no image yet, then `--force`,
/// then images of one cell and of both.
#[test]
fn status_says_what_a_run_would_do_and_why() {
    let sb = Sandbox::new();
    Recipe::new("status", "st", "#!/bin/sh\necho ok\n")
        .base("tiny.qcow2", &"0".repeat(64))
        .cases(&["a", "b"])
        .targets(vec![
            Target::directory("local", "images", 2),
            Target::directory("mirror", "mirror", 3),
        ])
        .write(&sb);
    let o = sb.run(&["plan", "status.toml", "--status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("build st-tiny-x64-case-a: no image on local yet; no image on mirror yet"),
        "{text}"
    );
    redacted().bind(|| insta::assert_snapshot!("plan-status-no-images", text));

    let o = sb.run(&["plan", "status.toml", "--status", "--force", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["cells"][1]["reason"], "--force");
    redacted().bind(|| {
        insta::assert_json_snapshot!("plan-status-force-json", plan, {
            ".cells[].input_key" => "[input key]",
        })
    });
    // Nothing was built or written to a store.
    assert_eq!(sb.entries("images"), [pipeline::targets::MARKER]);
    assert!(!sb.path().join("state/runs").exists());

    // Case a is up to date on both targets, then b too: the header counts
    // the cells listed and what a run would do, not the steps' cells.
    let cells = plan["cells"].as_array().unwrap();
    for store in ["images", "mirror"] {
        write_current_revision(&sb.path().join(store), &cells[0], 1, "pipeline:status");
    }
    let o = sb.run(&["plan", "status.toml", "--status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(
            "plan for status.toml: 2 cells (1 build, 1 skip), 1 base, 2 targets, 10 steps\n"
        ),
        "{text}"
    );
    redacted().bind(|| insta::assert_snapshot!("plan-status-one-up-to-date", text));
    for store in ["images", "mirror"] {
        write_current_revision(&sb.path().join(store), &cells[1], 1, "pipeline:status");
    }
    let o = sb.run(&["plan", "status.toml", "--status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("plan for status.toml: 2 cells (2 skip), 1 base, 2 targets, 0 steps\n"),
        "{text}"
    );
    assert_eq!(
        text.matches(": up to date (local st-tiny-x64-case-")
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn dot_output_is_valid_graphviz() {
    let dot = ok(&["plan", "recipes/github-runner.toml", "--dot"]);
    let out = feed(Command::new("dot").arg("-Tsvg"), dot.as_bytes())
        .expect("graphviz is installed (apt-get install graphviz)");
    assert!(
        out.status.success(),
        "dot rejected the plan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.contains("<svg"));
    // One node per step, one edge per dependency.
    let plan = plan_json(&["recipes/github-runner.toml"]);
    let steps = plan["steps"].as_array().unwrap();
    let edges: usize = steps
        .iter()
        .map(|s| s["needs"].as_array().unwrap().len())
        .sum();
    assert_eq!(svg.matches("class=\"node\"").count(), steps.len());
    assert_eq!(svg.matches("class=\"edge\"").count(), edges);
}

#[test]
fn only_filters_cells_and_rejects_unknown_keys() {
    let plan = plan_json(&[
        "recipes/github-runner.toml",
        "--only",
        "juju=",
        "--only",
        "microk8s=",
        "--only",
        "base=jammy",
        "--only",
        "base=noble",
    ]);
    let names = image_names(&plan);
    assert_eq!(
        names,
        ["github-runner-jammy-x64", "github-runner-noble-x64"]
    );

    let o = run(&["plan", "recipes/github-runner.toml", "--only", "colour=red"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: invalid --only key `colour`: the matrix axes are base, juju, microk8s, or use `name` or `arch`\n"
    );
    let o = run(&["plan", "recipes/github-runner.toml", "--only", "base=focal"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: invalid --only `base=focal`: no cell has it (the values of `base`: jammy, noble)\n"
    );
}

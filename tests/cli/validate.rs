use crate::support::{ok, pipeline, repo, run, stderr, stdout, tree};
use std::process::Stdio;

#[test]
fn shipped_recipes_are_valid() {
    let out = ok(&["validate", "recipes/github-runner.toml"]);
    assert_eq!(
        out,
        "recipes/github-runner.toml is valid: 18 cells, 2 targets\n"
    );
}

/// Each kind of bad input: exit code 2 (not 1, a build failure), an error
/// that names file:line:col and the key, shows the offending line, and the
/// exact message snapshot-tested.
#[test]
fn bad_input_is_reported_with_file_line_column_and_key() {
    let cases = [
        ("malformed", "malformed.toml:3:26", "image.template"),
        ("unknown-key", "unknown-key.toml:13:1", "build.cpu"),
        ("wrong-type", "wrong-type.toml:16:8", "target[0].keep"),
        (
            "invalid-channel",
            "invalid-channel.toml:11:13",
            "matrix.juju[1]",
        ),
        (
            "keep-out-of-range",
            "keep-out-of-range.toml:16:8",
            "target[0].keep",
        ),
        (
            "missing-template",
            "missing-template.toml:3:12",
            "image.template",
        ),
        (
            "template-fails",
            "template-fails.sh.tera:4:28",
            "image.template",
        ),
        ("unknown-base", "unknown-base.toml:10:18", "matrix.base[1]"),
        (
            "duplicate-target",
            "duplicate-target.toml:19:8",
            "target[1].name",
        ),
        (
            "duplicate-image-name",
            "duplicate-image-name.toml:12:25",
            "matrix.flavour[1]",
        ),
    ];
    for (name, position, key) in cases {
        let path = format!("tests/recipes/bad/{name}.toml");
        for verb in ["validate", "plan"] {
            let o = run(&[verb, &path]);
            let err = stderr(&o);
            if verb == "plan" && name == "template-fails" {
                // plan does not render templates; validate does.
                assert!(o.status.success(), "{err}");
                continue;
            }
            assert_eq!(o.status.code(), Some(2), "{verb} {name}: {err}");
            assert!(err.contains(position), "{name}: no {position} in\n{err}");
            assert!(
                err.contains(&format!("key `{key}`")),
                "{name}: no key {key} in\n{err}"
            );
            assert!(stdout(&o).is_empty(), "{name}: printed to stdout");
            if verb == "validate" {
                insta::assert_snapshot!(name, err);
            }
        }
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let o = run(&["validate", "tests/recipes/bad/many-problems.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.ends_with("8 problems found\n"), "{err}");
    insta::assert_snapshot!("many-problems", err);
}

#[test]
fn a_missing_recipe_is_a_clear_error() {
    let o = run(&["validate", "recipes/nope.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: failed to read recipe `recipes/nope.toml`: no such file\n\n1 problem found\n"
    );
}

#[test]
fn validate_and_plan_create_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["recipes", "templates"] {
        std::fs::create_dir(root.join(sub)).unwrap();
        for entry in std::fs::read_dir(repo().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, root.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let cache = root.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let before = tree(root);
    for args in [
        &["validate", "recipes/github-runner.toml"][..],
        &["plan", "recipes/github-runner.toml"],
        &["plan", "recipes/github-runner.toml", "--json"],
        &["plan", "recipes/github-runner.toml", "--dot"],
        &[
            "render",
            "recipes/github-runner.toml",
            "--only",
            "name=github-runner-noble-x64",
        ],
    ] {
        let o = pipeline(args)
            .current_dir(root)
            .env("XDG_CACHE_HOME", &cache)
            .env("HOME", root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(tree(root), before);
}

/// Every rendered cell of the shipped runner template, and of its verify
/// script, passes shellcheck, with the shipped recipe's options and with
/// every option on (the -full recipe).
#[test]
fn every_rendered_runner_script_passes_shellcheck() {
    for recipe in [
        "recipes/github-runner.toml",
        "tests/recipes/github-runner-full.toml",
    ] {
        let plan: serde_json::Value =
            serde_json::from_str(&ok(&["plan", recipe, "--json"])).unwrap();
        let cells = plan["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 18);
        for cell in cells {
            let name = cell["image_name"].as_str().unwrap();
            let provision = pipeline(&["render", recipe, "--only", &format!("name={name}")])
                .env("PIPELINE_SECRET_GITHUB_TOKEN", "t0ken")
                .output()
                .unwrap();
            let verify = render_verify(recipe, name);
            for (what, script) in [("provisioning", provision), ("verify", verify)] {
                assert!(script.status.success(), "{what}: {}", stderr(&script));
                let script_text = stdout(&script);
                assert!(script_text.starts_with("#!/bin/bash\n"), "{what}");
                assert!(
                    !script_text.contains("t0ken"),
                    "{what}: a secret value was rendered"
                );
                if let Err(problems) = shellcheck(&script.stdout) {
                    panic!(
                        "shellcheck failed for the {what} script of {recipe} {name}:\n{problems}"
                    );
                }
            }
        }
    }
}

/// The verify script of the cell `name` of `recipe`, as `pipeline render`
/// prints it. Recipes have no verify template yet, so this renders a copy of
/// the recipe whose `image.template` is `templates/runner-checks.sh.tera`.
fn render_verify(recipe: &str, name: &str) -> std::process::Output {
    let text = std::fs::read_to_string(repo().join(recipe)).unwrap();
    let mut copy: toml::Table = text.parse().unwrap();
    let template = repo().join("templates/runner-checks.sh.tera");
    copy["image"].as_table_mut().unwrap().insert(
        "template".to_owned(),
        toml::Value::String(template.to_str().unwrap().to_owned()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(std::path::Path::new(recipe).file_name().unwrap());
    std::fs::write(&path, toml::to_string(&copy).unwrap()).unwrap();
    pipeline(&[
        "render",
        path.to_str().unwrap(),
        "--only",
        &format!("name={name}"),
    ])
    .env("PIPELINE_SECRET_GITHUB_TOKEN", "t0ken")
    .output()
    .unwrap()
}

/// shellcheck's findings (gcc format) about `script`, if any.
fn shellcheck(script: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut check = std::process::Command::new("shellcheck")
        .args(["--format=gcc", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("shellcheck is installed (apt-get install shellcheck)");
    check.stdin.take().unwrap().write_all(script).unwrap();
    let result = check.wait_with_output().unwrap();
    if result.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&result.stdout).into_owned())
    }
}

#[test]
fn render_needs_exactly_one_cell() {
    let o = run(&[
        "render",
        "recipes/github-runner.toml",
        "--only",
        "base=noble",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("render needs exactly one cell, but 9 match"));
}

#[test]
fn schema_is_derived_and_shipped() {
    let schema = ok(&["schema"]);
    let shipped = std::fs::read_to_string(repo().join("recipes/recipe.schema.json")).unwrap();
    assert!(
        schema == shipped,
        "recipes/recipe.schema.json is stale: run `cargo run -- schema > recipes/recipe.schema.json`"
    );
    let v: serde_json::Value = serde_json::from_str(&schema).unwrap();
    for key in [
        "image", "bases", "matrix", "build", "services", "vars", "target",
    ] {
        assert!(v["properties"][key].is_object(), "schema lacks {key}");
    }
    assert_eq!(v["additionalProperties"], false);
    for entry in std::fs::read_dir(repo().join("recipes")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.starts_with("#:schema ./recipe.schema.json\n"),
                "{} lacks the #:schema line",
                p.display()
            );
        }
    }
}

#[test]
fn help_teaches_each_verb_with_an_example() {
    for verb in [
        "validate", "plan", "render", "schema", "run", "latest", "prune",
    ] {
        let help = ok(&[verb, "--help"]);
        assert!(help.contains("Example"), "{verb} --help has no example");
        insta::assert_snapshot!(format!("help-{verb}"), help);
    }
}

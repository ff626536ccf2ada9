use crate::support::{Sandbox, feed, ok, pipeline, repo, run, stderr, stdout, tree};
use std::collections::HashMap;

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
        ("invalid-name", "invalid-name.toml:2:8", "name"),
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

/// Every name a template reads, on every branch, is a variable of every
/// cell, and every call takes the arguments it is given: `validate` (and
/// so `run`) refuses a typo where it is, with the near miss and the names
/// there are, rather than building the image without what it guards.
#[test]
fn template_mistakes_are_found_where_they_are_on_every_branch() {
    let cases = [
        // Only the "full" cell would take the branch, and it never does.
        (
            "template-unknown-variable",
            "template-unknown-variable.sh.tera:3:7",
            "image.template",
        ),
        // Read through a filter: the same message, not the filter's.
        (
            "template-unknown-variable-filtered",
            "template-unknown-variable-filtered.sh.tera:3:9",
            "image.template",
        ),
        (
            "template-unknown-argument",
            "template-unknown-argument.sh.tera:3:54",
            "image.template",
        ),
        (
            "template-unclosed-if",
            "template-unclosed-if.sh.tera:3:4",
            "image.template",
        ),
        (
            "verify-template-unknown-variable",
            "verify-template-unknown-variable.sh.tera:3:7",
            "verify.template",
        ),
    ];
    for (name, position, key) in cases {
        let err = validate_refuses(name, position, key);
        assert!(err.ends_with("\n1 problem found\n"), "{name}: {err}");
    }
    let message = |name: &str| {
        let err = stderr(&run(&[
            "validate",
            &format!("tests/recipes/bad/{name}.toml"),
        ]));
        err.lines().next().unwrap().to_owned()
    };
    assert_eq!(
        message("template-unknown-variable-filtered"),
        message("template-unknown-variable")
    );
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

/// Each on/off switch of the runner template (the `switches` of
/// github-runner.sh.tera) off on its own, the others on as in the -full
/// recipe: both scripts render with it off and pass shellcheck, for a cell
/// without snaps and one with juju and microk8s.
#[test]
fn each_runner_switch_off_on_its_own_passes_shellcheck() {
    let template = std::fs::read_to_string(repo().join("templates/github-runner.sh.tera")).unwrap();
    let block = &template[template.find("{%- set switches = {").unwrap()..];
    let block = &block[..block.find("} %}").unwrap()];
    let switches: Vec<&str> = regex::Regex::new(r#""(\w+)": vars\."#)
        .unwrap()
        .captures_iter(block)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(switches.len(), 7, "{switches:?}");
    let checks = std::fs::read_to_string(repo().join("templates/runner-checks.sh.tera")).unwrap();
    let full = std::fs::read_to_string(repo().join("tests/recipes/github-runner-full.toml"))
        .unwrap()
        .replace(
            "../../templates",
            &repo().join("templates").display().to_string(),
        );
    let sb = Sandbox::new();
    for switch in switches {
        assert!(
            checks.contains(&format!("\"{switch}\": vars.{switch}")),
            "runner-checks.sh.tera does not know the switch {switch}"
        );
        let on = format!("\n{switch} = true\n");
        assert!(
            full.contains(&on),
            "the -full recipe does not turn {switch} on"
        );
        sb.write(
            "runner.toml",
            &full.replace(&on, &format!("\n{switch} = false\n")),
        );
        let constant = format!("readonly {}=false\n", switch.to_uppercase());
        for name in [
            "github-runner-jammy-arm64",
            "github-runner-noble-arm64-juju-3.1-stable-mk8s-1.28-strict-stable",
        ] {
            let only = format!("name={name}");
            for (what, extra) in [("provisioning", None), ("verify", Some("--verify"))] {
                let mut args = vec!["render", "runner.toml", "--only", &only];
                args.extend(extra);
                let o = sb
                    .command(&args)
                    .env("PIPELINE_SECRET_GITHUB_TOKEN", "t0ken")
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{switch} off, {what}: {}", stderr(&o));
                let text = stdout(&o);
                assert!(
                    text.contains(&constant),
                    "{switch} off: the {what} script has no {constant:?}"
                );
                if let Err(problems) = shellcheck(&o.stdout) {
                    panic!(
                        "shellcheck failed for the {what} script of {name} with {switch} off:\n{problems}"
                    );
                }
            }
        }
    }
}

/// The verify script of the cell `name` of `recipe` (`[verify] template`),
/// as `pipeline render --verify` prints it.
fn render_verify(recipe: &str, name: &str) -> std::process::Output {
    pipeline(&[
        "render",
        recipe,
        "--only",
        &format!("name={name}"),
        "--verify",
    ])
    .env("PIPELINE_SECRET_GITHUB_TOKEN", "t0ken")
    .output()
    .unwrap()
}

/// shellcheck's findings (gcc format) about `script`, if any.
fn shellcheck(script: &[u8]) -> Result<(), String> {
    let result = feed(
        std::process::Command::new("shellcheck").args(["--format=gcc", "-"]),
        script,
    )
    .expect("shellcheck is installed (apt-get install shellcheck)");
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
    // Which cells, and the `--only` that picks one of two.
    let o = run(&["render", "recipes/demo.toml", "--only", "microk8s="]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("render-two-cells", stderr(&o));
}

/// `--only` with a value no cell has names the values there are (and the
/// near miss): a typo should not read as "nothing to build".
#[test]
fn only_with_a_value_no_cell_has_lists_the_values() {
    for (verb, only) in [("plan", "juju=3.1/stabel"), ("render", "bse=noble")] {
        let o = run(&[verb, "recipes/github-runner.toml", "--only", only]);
        assert_eq!(o.status.code(), Some(2), "{only}");
        insta::assert_snapshot!(format!("only-{verb}-typo"), stderr(&o));
    }
}

/// An axis no template reads, next to a word one reads, is worth a warning
/// (one of them is likely a typo), but the recipe is valid.
#[test]
fn an_unread_axis_next_to_a_read_word_is_a_warning() {
    let o = run(&["validate", "tests/recipes/unread-axis.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "tests/recipes/unread-axis.toml is valid: 2 cells, 1 target\n"
    );
    insta::assert_snapshot!("unread-axis", stderr(&o));
}

/// A typo of a key is an unknown key with its near miss, at any level (in
/// `[matrix]`, where any other key is an axis, too); a duration is within
/// its bounds, with one hint.
#[test]
fn recipe_typos_are_caught_as_typos() {
    let cases = [
        (
            "matrix-unknown-key",
            "matrix-unknown-key.toml:12:1",
            "matrix.exlude",
        ),
        (
            "duration-out-of-range",
            "duration-out-of-range.toml:13:11",
            "build.timeout",
        ),
    ];
    for (name, position, key) in cases {
        validate_refuses(name, position, key);
    }
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

/// Bad recipes that a JSON Schema rejects, each with the problems `validate`
/// reports (its key) and where check-jsonschema reports them (its path).
const SCHEMA_REJECTS: &[(&str, &[(&str, &str)])] = &[
    (
        "backend-key",
        &[("build.cloud", "$.build"), ("build.servers", "$.build")],
    ),
    ("both-checksums", &[("bases.noble", "$.bases.noble")]),
    ("cloud-without-openstack", &[("build.cloud", "$.build")]),
    ("openstack-without-cloud", &[("build.cloud", "$.build")]),
    (
        "servers-out-of-range",
        &[("build.servers", "$.build.servers")],
    ),
    ("cpus-out-of-range", &[("build.cpus", "$.build.cpus")]),
    (
        "directory-target-without-path",
        &[("target[0]", "$.target[0]")],
    ),
    (
        "duplicate-axis-value",
        &[("matrix.juju[1]", "$.matrix.juju")],
    ),
    ("empty-axis", &[("matrix.flavour", "$.matrix.flavour")]),
    (
        "empty-exclude",
        &[("matrix.exclude[0]", "$.matrix.exclude[0]")],
    ),
    (
        "include-without-base",
        &[("matrix.include[0]", "$.matrix.include[0]")],
    ),
    ("invalid-axis-name", &[("matrix.gpu-type", "$.matrix")]),
    (
        "invalid-axis-value",
        &[("matrix.flavour[0]", "$.matrix.flavour[0]")],
    ),
    ("invalid-channel", &[("matrix.juju[1]", "$.matrix.juju[1]")]),
    (
        "invalid-disk-size",
        &[("image.disk_size", "$.image.disk_size")],
    ),
    (
        "invalid-duration",
        &[("build.rebuild_after", "$.build.rebuild_after")],
    ),
    ("invalid-name", &[("name", "$.name")]),
    ("invalid-prefix", &[("image.prefix", "$.image.prefix")]),
    ("invalid-proxy", &[("services.proxy", "$.services.proxy")]),
    (
        "invalid-sha256",
        &[("bases.noble.sha256", "$.bases.noble.sha256")],
    ),
    (
        "keep-out-of-range",
        &[("target[0].keep", "$.target[0].keep")],
    ),
    // Also a base that [bases] lacks and an exclude value that is not one of
    // its axis' values: beyond a schema (see SCHEMA_CANNOT).
    (
        "many-problems",
        &[
            ("bases.noble", "$.bases.noble"),
            ("matrix.juju[1]", "$.matrix.juju[1]"),
            ("build.memory", "$.build.memory"),
            ("build.timeout", "$.build.timeout"),
            ("target[0]", "$.target[0]"),
            ("target[0].keep", "$.target[0].keep"),
        ],
    ),
    ("no-checksum", &[("bases.noble", "$.bases.noble")]),
    ("no-target", &[("target", "$")]),
    (
        "openstack-target-with-path",
        &[("target[0].path", "$.target[0]")],
    ),
    ("reserved-axis", &[("matrix.arch", "$.matrix")]),
    (
        "unknown-compression",
        &[("build.compression", "$.build.compression")],
    ),
    ("unknown-backend", &[("build.backend", "$.build.backend")]),
    ("unknown-key", &[("build.cpu", "$.build")]),
    (
        "matrix-unknown-key",
        &[("matrix.exlude", "$.matrix.exlude[0]")],
    ),
    (
        "unsupported-url",
        &[("bases.noble.url", "$.bases.noble.url")],
    ),
    (
        "uploads-out-of-range",
        &[("target[0].uploads", "$.target[0].uploads")],
    ),
    ("wrong-type", &[("target[0].keep", "$.target[0].keep")]),
    ("zero-duration", &[("build.timeout", "$.build.timeout")]),
];

/// Bad recipes whose problem no JSON Schema can express, and why.
const SCHEMA_CANNOT: &[(&str, &str)] = &[
    // Not TOML at all: the editor's TOML parser reports it before any schema
    // applies (there is no document to validate).
    ("malformed", "not TOML"),
    // The template file does not exist: a schema sees values, not files.
    ("missing-template", "a file that does not exist"),
    // The template fails to render for some cells: that takes Tera and the
    // expanded matrix.
    ("template-fails", "a template that fails to render"),
    // A base that `[bases]` lacks: JSON Schema cannot compare a value with
    // another part of the document (2020-12 has no `$data`).
    ("unknown-base", "a matrix base that [bases] lacks"),
    // Two targets with one name: `uniqueItems` compares whole entries, and
    // these differ in `path`; JSON Schema has no uniqueness by key.
    ("duplicate-target", "a target name used twice"),
    // Image names are computed from the cells (`/` becomes `-`), so two
    // different values collide only after that.
    ("duplicate-image-name", "two cells with one image name"),
    // What a template reads and calls: a schema sees the recipe, not Tera.
    (
        "template-unknown-variable",
        "a template that reads an unknown name",
    ),
    (
        "template-unknown-variable-filtered",
        "a template that reads an unknown name",
    ),
    (
        "verify-template-unknown-variable",
        "a template that reads an unknown name",
    ),
    (
        "template-unknown-argument",
        "a filter argument Tera ignores",
    ),
    ("template-unclosed-if", "a template that does not parse"),
    // `1ns` and `2 years` are durations as a pattern reads them; their
    // amount against a bound is beyond a regular expression worth writing.
    ("duration-out-of-range", "a duration out of its bounds"),
];

/// Edge values of the rules the schema carries: each is written into a
/// valid recipe, and `validate` and check-jsonschema must agree on it. The
/// bool is what `validate` says, so that a case cannot pass by accident.
/// A line `key = value` replaces or adds the key in the section; `-key`
/// removes it.
const SCHEMA_EDGES: &[(&str, &[&str], bool)] = &[
    ("", &[r#"name = "prod.runner_2""#], true),
    ("", &[r#"name = "prod/runner""#], false),
    ("", &[r#"name = """#], false),
    ("[image]", &[r#"prefix = "my.image_2""#], true),
    ("[image]", &[r#"prefix = "my/image""#], false),
    ("[image]", &[r#"disk_size = "20Gi""#], true),
    ("[image]", &[r#"disk_size = "20 GiB""#], true),
    ("[image]", &[r#"disk_size = "1_024M""#], true),
    ("[image]", &[r#"disk_size = "20G\n""#], false),
    ("[image]", &[r#"disk_size = "20 gb of disk""#], false),
    ("[build]", &[r#"memory = "1.5G""#], true),
    ("[build]", &[r#"memory = "2048 MiB""#], true),
    ("[build]", &[r#"memory = "2Gb""#], true),
    ("[build]", &[r#"memory = "2GiB!""#], false),
    ("[build]", &[r#"timeout = "1h 30m""#], true),
    ("[build]", &[r#"timeout = "1h30m""#], true),
    ("[build]", &[r#"timeout = "1.5h""#], true),
    ("[build]", &[r#"timeout = "90 seconds""#], true),
    ("[build]", &[r#"timeout = " 45m\n""#], true),
    ("[build]", &["timeout = \"1\u{a0}h\""], true),
    ("[build]", &[r#"timeout = "1500ms""#], true),
    ("[build]", &["timeout = \"10000000\u{b5}s\""], true),
    ("[build]", &[r#"rebuild_after = "2M""#], true),
    ("[build]", &[r#"timeout = "30 Minutes""#], false),
    ("[build]", &[r#"timeout = "1h, 30m""#], false),
    ("[build]", &[r#"timeout = "PT30M""#], false),
    ("[build]", &[r#"timeout = "30""#], false),
    ("[build]", &[r#"timeout = "0""#], false),
    ("[build]", &[r#"rebuild_after = "0d 0h""#], false),
    ("[build]", &[r#"rebuild_after = "0.5d""#], true),
    ("[build]", &["cpus = 64"], true),
    ("[build]", &["cpus = 65"], false),
    ("[build]", &["max_cells = 100000"], true),
    ("[build]", &["max_cells = 0"], false),
    ("[build]", &[r#"compression = "zlib""#], true),
    ("[build]", &[r#"backend = "openstack""#], false),
    (
        "[build]",
        &[r#"backend = "openstack""#, r#"cloud = "builder""#],
        true,
    ),
    (
        "[build]",
        &[
            r#"backend = "openstack""#,
            r#"cloud = "builder""#,
            "servers = 64",
        ],
        true,
    ),
    (
        "[build]",
        &[
            r#"backend = "openstack""#,
            r#"cloud = "builder""#,
            "servers = 0",
        ],
        false,
    ),
    ("[build]", &[r#"flavor = "m1.builder""#], false),
    ("[build]", &[r#"backend = "kvm""#], false),
    (
        "[matrix]",
        &[r#"juju = ["", "latest/edge", "3.1/candidate"]"#],
        true,
    ),
    (
        "[matrix]",
        &[r#"microk8s = ["1.29-strict/stable/hotfix"]"#],
        false,
    ),
    ("[matrix]", &[r#"microk8s = ["1.29/Stable"]"#], false),
    ("[matrix]", &[r#"juju = ["../stable"]"#], false),
    ("[matrix]", &[r#"juju = ["3..1/stable"]"#], false),
    ("[matrix]", &[r#"juju = ["a_1-b.2/beta"]"#], true),
    (
        "[matrix]",
        &[r#"flavour = ["", "gpu/large", "v1.2_x"]"#],
        true,
    ),
    ("[matrix]", &["flavour = [\"gr\u{f6}\u{df}\"]"], false),
    ("[matrix]", &[r#"gpu_2 = ["a"]"#], true),
    ("[matrix]", &[r#"Gpu = ["a"]"#], false),
    ("[matrix]", &[r#"name = ["a"]"#], false),
    (
        "[matrix]",
        &[
            r#"flavour = ["a", "b"]"#,
            r#"exclude = [{ flavour = "b" }]"#,
        ],
        true,
    ),
    (
        "[matrix]",
        &[
            r#"flavour = ["a"]"#,
            r#"include = [{ base = "noble", flavour = "b c" }]"#,
        ],
        false,
    ),
    (
        "[matrix]",
        &[
            r#"juju = [""]"#,
            r#"include = [{ base = "noble", juju = "3.1/stable" }]"#,
        ],
        true,
    ),
    (
        "[matrix]",
        &[
            r#"juju = [""]"#,
            r#"include = [{ base = "noble", juju = "3.1" }]"#,
        ],
        false,
    ),
    (
        "[bases.noble]",
        &[r#"url = "file:///srv/images/noble.img""#],
        true,
    ),
    (
        "[bases.noble]",
        &[r#"url = "images/noble:24.04.img""#],
        true,
    ),
    (
        "[bases.noble]",
        &[r#"url = "HTTPS://cloud-images.ubuntu.com/noble.img""#],
        false,
    ),
    (
        "[bases.noble]",
        &[r#"url = "s3://bucket/noble.img""#],
        false,
    ),
    ("[bases.noble]", &[r#"url = """#], false),
    (
        "[bases.noble]",
        &[
            "-sha256sums",
            "sha256 = \"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF\"",
        ],
        true,
    ),
    (
        "[bases.noble]",
        &["-sha256sums", r#"sha256 = "0123456789abcdef""#],
        false,
    ),
    ("[bases.noble]", &[r#"sha256sums = "SHA256SUMS""#], true),
    ("[services]", &[r#"proxy = """#], true),
    (
        "[services]",
        &[r#"proxy = "https://proxy.internal:3128""#],
        true,
    ),
    (
        "[services]",
        &[r#"proxy = "socks5://proxy.internal:1080""#],
        false,
    ),
    ("[[target]]", &["keep = 2"], true),
    ("[[target]]", &["keep = 99"], true),
    ("[[target]]", &["keep = 1"], false),
    ("[[target]]", &["uploads = 16"], true),
    ("[[target]]", &["uploads = 0"], false),
    ("[[target]]", &[r#"name = "prod east""#], false),
    ("[[target]]", &[r#"path = """#], false),
    ("[[target]]", &[r#"visibility = "public""#], false),
    (
        "[[target]]",
        &[
            r#"kind = "openstack""#,
            "-path",
            r#"cloud = "prod""#,
            r#"visibility = "community""#,
        ],
        true,
    ),
    ("[[target]]", &[r#"kind = "openstack""#, "-path"], false),
    (
        "[[target]]",
        &[r#"kind = "openstack""#, "-path", r#"cloud = """#],
        false,
    ),
];

/// A valid recipe with the edge case's lines applied.
fn edge_recipe(section: &str, lines: &[&str]) -> String {
    let template = repo().join("tests/recipes/ok.sh.tera");
    // "": the top-level keys, before the first table.
    let mut sections: Vec<(&str, Vec<String>)> = vec![
        ("", vec![]),
        (
            "[image]",
            vec![
                r#"prefix = "edge""#.into(),
                format!("template = {:?}", template.to_str().unwrap()),
            ],
        ),
        (
            "[bases.noble]",
            vec![
                r#"url = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img""#.into(),
                r#"sha256sums = "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS""#.into(),
            ],
        ),
        ("[matrix]", vec![r#"base = ["noble"]"#.into()]),
        ("[build]", vec![]),
        ("[services]", vec![]),
        (
            "[[target]]",
            vec![
                r#"name = "local""#.into(),
                r#"kind = "directory""#.into(),
                r#"path = "images""#.into(),
                "keep = 3".into(),
            ],
        ),
    ];
    let body = &mut sections
        .iter_mut()
        .find(|(header, _)| *header == section)
        .unwrap_or_else(|| panic!("no section {section}"))
        .1;
    for line in lines {
        let key = line.trim_start_matches('-').split(" = ").next().unwrap();
        let at = body.iter().position(|l| l.split(" = ").next() == Some(key));
        match (line.starts_with('-'), at) {
            (true, Some(i)) => drop(body.remove(i)),
            (true, None) => panic!("{section} has no {key} to remove"),
            (false, Some(i)) => body[i] = line.to_string(),
            (false, None) => body.push(line.to_string()),
        }
    }
    sections
        .iter()
        .map(|(header, body)| match *header {
            "" => format!("{}\n", body.join("\n")),
            header => format!("{header}\n{}\n", body.join("\n")),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TOML document as editors hand it to a JSON Schema validator (taplo:
/// tables are objects, date-times strings); `None` if it is not TOML.
fn toml_as_json(text: &str) -> Option<serde_json::Value> {
    fn convert(value: toml::Value) -> serde_json::Value {
        match value {
            toml::Value::String(s) => s.into(),
            toml::Value::Integer(i) => i.into(),
            toml::Value::Float(f) => f.into(),
            toml::Value::Boolean(b) => b.into(),
            toml::Value::Datetime(d) => d.to_string().into(),
            toml::Value::Array(a) => a.into_iter().map(convert).collect(),
            toml::Value::Table(t) => t.into_iter().map(|(k, v)| (k, convert(v))).collect(),
        }
    }
    let table: toml::Table = toml::from_str(text).ok()?;
    Some(convert(toml::Value::Table(table)))
}

/// Run check-jsonschema (tests/check-jsonschema: pinned, in a cached venv)
/// with the shipped schema on the JSON files, reading patterns as
/// `regex_variant` does; the errors by file name.
fn check_jsonschema(
    regex_variant: &str,
    files: &[std::path::PathBuf],
) -> HashMap<String, Vec<(String, String)>> {
    let o = std::process::Command::new(repo().join("tests/check-jsonschema"))
        .arg("--schemafile")
        .arg(repo().join("recipes/recipe.schema.json"))
        .args(["--output-format", "json", "--color", "never"])
        .args(["--regex-variant", regex_variant])
        .args(files)
        .output()
        .expect("tests/check-jsonschema runs");
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "check-jsonschema failed: {}\n{}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("check-jsonschema output: {e}\n{}{}", stdout(&o), stderr(&o)));
    assert_eq!(report["parse_errors"], serde_json::json!([]), "{report:#}");
    let mut errors: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for e in report["errors"].as_array().unwrap() {
        let file = std::path::Path::new(e["filename"].as_str().unwrap());
        errors
            .entry(file.file_name().unwrap().to_str().unwrap().to_owned())
            .or_default()
            .push((
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            ));
    }
    errors
}

/// The schema holds recipes to what `validate` holds them to, as far as a
/// schema can: a real JSON Schema validator (check-jsonschema, as editors
/// would, on the TOML read as JSON) rejects every bad recipe whose problem a
/// schema can express, where `validate` reports it, and accepts every good
/// recipe; on edge values of each rule it agrees with `validate`.
#[test]
fn a_real_json_schema_validator_agrees_with_validate() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut as_json = |name: String, text: &str| -> bool {
        let Some(value) = toml_as_json(text) else {
            return false;
        };
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string(&value).unwrap()).unwrap();
        files.push(path);
        true
    };

    // Every bad recipe is classified, and `validate` rejects each.
    let mut bad: Vec<String> = std::fs::read_dir(repo().join("tests/recipes/bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    bad.sort();
    for name in &bad {
        let rejects = SCHEMA_REJECTS.iter().find(|(n, _)| n == name);
        let cannot = SCHEMA_CANNOT.iter().any(|(n, _)| n == name);
        assert!(
            rejects.is_some() != cannot,
            "tests/recipes/bad/{name}.toml: list it once, in SCHEMA_REJECTS or SCHEMA_CANNOT"
        );
        let path = format!("tests/recipes/bad/{name}.toml");
        let o = run(&["validate", &path]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "validate {path}: {err}");
        for (key, _) in rejects.map_or(&[][..], |r| r.1) {
            assert!(
                err.contains(&format!("key `{key}`")),
                "{path}: no key {key} in\n{err}"
            );
        }
        let text = std::fs::read_to_string(repo().join(&path)).unwrap();
        let is_toml = as_json(format!("bad-{name}"), &text);
        assert_eq!(is_toml, *name != "malformed", "{path}");
    }
    let listed = SCHEMA_REJECTS.iter().map(|(n, _)| *n);
    for name in listed.chain(SCHEMA_CANNOT.iter().map(|(n, _)| *n)) {
        assert!(
            bad.iter().any(|b| b == name),
            "no tests/recipes/bad/{name}.toml"
        );
    }

    // Every good recipe: `plan` takes it (everything `validate` checks but
    // rendering, which some of these leave to their tests' variables).
    let mut good = Vec::new();
    for folder in ["recipes", "tests/recipes"] {
        for entry in std::fs::read_dir(repo().join(folder)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                let rel = format!("{folder}/{}", p.file_name().unwrap().to_str().unwrap());
                ok(&["plan", &rel]);
                let name = format!("good-{}", rel.replace('/', "-"));
                assert!(
                    as_json(name.clone(), &std::fs::read_to_string(&p).unwrap()),
                    "{rel}"
                );
                good.push(name);
            }
        }
    }
    assert!(good.len() >= 4, "{good:?}");

    // Edge values: `validate` says what the table says, for that one reason.
    let edges_dir = tempfile::tempdir().unwrap();
    for (i, (section, lines, valid)) in SCHEMA_EDGES.iter().enumerate() {
        let text = edge_recipe(section, lines);
        let path = edges_dir.path().join(format!("edge-{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let o = run(&["validate", path.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(
            o.status.success(),
            *valid,
            "validate on {section} {lines:?}:\n{text}\n{err}"
        );
        assert!(
            *valid || err.ends_with("\n1 problem found\n"),
            "validate on {section} {lines:?}: more than the one problem:\n{err}"
        );
        assert!(as_json(format!("edge-{i}"), &text));
    }

    // The lists the schema repeats from the model: every axis name it
    // reserves, `validate` reserves too, and every axis it checks as
    // channels, `validate` checks as channels.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("recipes/recipe.schema.json")).unwrap(),
    )
    .unwrap();
    let matrix = &schema["$defs"]["RawMatrix"];
    let reserved = matrix["propertyNames"]["not"]["enum"].as_array().unwrap();
    let channel_pattern = &matrix["properties"]["juju"]["items"]["pattern"];
    let channel_axes: Vec<&String> = matrix["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| &p["items"]["pattern"] == channel_pattern)
        .map(|(name, _)| name)
        .collect();
    assert!(reserved.len() > 5 && channel_axes.len() == 2, "{matrix:#}");
    let axes = reserved
        .iter()
        .map(|n| (n.as_str().unwrap(), "a", "is reserved"));
    let axes = axes.chain(channel_axes.iter().map(|n| (n.as_str(), "3.1", "channel")));
    for (i, (axis, value, why)) in axes.enumerate() {
        let text = edge_recipe("[matrix]", &[&format!("{axis} = [{value:?}]")]);
        let path = edges_dir.path().join(format!("axis-{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let err = stderr(&run(&["validate", path.to_str().unwrap()]));
        assert!(
            err.contains(why),
            "{axis} = [{value:?}]: validate says\n{err}"
        );
    }

    // ECMA-262 regular expressions, as JSON Schema specifies them, in both
    // of check-jsonschema's modes. (Its `python` mode reads `$` as also
    // before a final newline, so there `"20G\n"` would slip through.)
    let mut wrong = Vec::new();
    for variant in ["default", "nonunicode"] {
        let errors = check_jsonschema(variant, &files);
        let mut wrong_here = Vec::new();
        for (name, problems) in SCHEMA_REJECTS {
            let found = errors.get(&format!("bad-{name}.json"));
            for (_, path) in *problems {
                if !found.is_some_and(|f| f.iter().any(|(p, _)| p == path)) {
                    wrong_here.push(format!("bad/{name}: no error at {path}, got {found:?}"));
                }
            }
        }
        for (name, why) in SCHEMA_CANNOT.iter().filter(|(n, _)| *n != "malformed") {
            if let Some(found) = errors.get(&format!("bad-{name}.json")) {
                wrong_here.push(format!(
                    "bad/{name} ({why}) is rejected after all ({found:?}): move it to SCHEMA_REJECTS"
                ));
            }
        }
        for name in &good {
            if let Some(found) = errors.get(&format!("{name}.json")) {
                wrong_here.push(format!("{name} is a good recipe, but rejected: {found:?}"));
            }
        }
        for (i, (section, lines, valid)) in SCHEMA_EDGES.iter().enumerate() {
            let found = errors.get(&format!("edge-{i}.json"));
            if found.is_none() != *valid {
                wrong_here.push(format!(
                    "{section} {lines:?}: validate says {}, the schema {found:?}",
                    if *valid { "valid" } else { "invalid" },
                ));
            }
        }
        wrong.extend(wrong_here.into_iter().map(|w| format!("{variant}: {w}")));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn help_teaches_each_verb_with_an_example() {
    for verb in [
        "init", "validate", "plan", "render", "schema", "run", "latest", "prune", "schedule",
    ] {
        let help = ok(&[verb, "--help"]);
        assert!(help.contains("Example"), "{verb} --help has no example");
        insta::assert_snapshot!(format!("help-{verb}"), help);
    }
    insta::assert_snapshot!("help", ok(&["--help"]));
}

/// Each backend owns its `[build]` keys: another backend's key, an unknown
/// backend and a key a backend requires are reported where they are written.
#[test]
fn build_keys_belong_to_their_backend() {
    let cases = [
        ("backend-key", "backend-key.toml:13:1", "build.cloud"),
        (
            "unknown-backend",
            "unknown-backend.toml:13:11",
            "build.backend",
        ),
        (
            "openstack-without-cloud",
            "openstack-without-cloud.toml:13:11",
            "build.cloud",
        ),
    ];
    for (name, position, key) in cases {
        validate_refuses(name, position, key);
    }
}

/// `validate` refuses tests/recipes/bad/NAME.toml (exit 2) at `position`,
/// naming `key`, as the snapshot NAME shows; what it printed.
fn validate_refuses(name: &str, position: &str, key: &str) -> String {
    let o = run(&["validate", &format!("tests/recipes/bad/{name}.toml")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert!(err.contains(position), "{name}: no {position} in\n{err}");
    assert!(err.contains(&format!("key `{key}`")), "{name}: {err}");
    insta::assert_snapshot!(name, err);
    err
}

//! A reader that goes away (`pipeline plan | head -1`): pipeline drops
//! what it could not print and says nothing of it, with no panic; the work
//! goes on, and the exit status is that of the work. A standard output that
//! fails otherwise (a full disk) is an error that says so.

use crate::support::{Recipe, Sandbox, Target, repo, stderr, stdout, write_current_revision};
use serde_json::Value;
use std::process::{Command, Output, Stdio};

/// `recipe.toml`, its cells `c-tiny-x64-case-<case>` on the directory
/// targets `images` and `mirror` (keep 2 each).
fn sandbox(cases: &[&str]) -> Sandbox {
    let sb = Sandbox::new();
    Recipe::new("recipe", "c", "#!/bin/sh\necho {{ case }}\n")
        .base("tiny.qcow2", &"0".repeat(64))
        .cases(cases)
        .targets(vec![
            Target::directory("images", "images", 2),
            Target::directory("mirror", "mirror", 2),
        ])
        .write(&sb);
    sb
}

/// `cmd` with standard output a pipe whose reader has already gone.
fn to_a_closed_pipe(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap()
}

#[test]
fn every_verb_that_prints_says_nothing_of_a_reader_that_has_gone() {
    let sb = sandbox(&["a", "b"]);
    let o = sb.run(&["plan", "recipe.toml", "--status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Four revisions of case a on `images`, where it keeps 2: two to prune.
    let images = sb.path().join("images");
    for n in 1..=4 {
        write_current_revision(&images, &plan["cells"][0], n, "pipeline:recipe");
    }
    let cron_dir = sb.path().join("cron.d");
    let log = sb.path().join("logs/recipe.log");
    let schedule = [
        "schedule",
        "recipe.toml",
        "--every",
        "6h",
        "--cron-dir",
        cron_dir.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    let runner = repo().join("recipes/github-runner.toml");
    let runner = runner.to_str().unwrap();
    let init_note = format!(
        "note: run `pipeline init {}` once, as the user the runs run as, to check and prepare what they need now\n",
        sb.path().join("recipe.toml").display()
    );
    // Each verb, and what it says on stderr (a summary, never the pipe).
    let verbs: [(&[&str], &str); 14] = [
        (&["validate", "recipe.toml"], ""),
        (&["validate", runner], ""),
        (&["plan", runner], ""),
        (&["plan", runner, "--json"], ""),
        (&["plan", runner, "--dot"], ""),
        (&["plan", "recipe.toml", "--status"], ""),
        (&["plan", "recipe.toml", "--status", "--json"], ""),
        (&["render", "recipe.toml", "--only", "case=a"], ""),
        (&["latest", "recipe.toml"], ""),
        (&["latest", "recipe.toml", "--json"], ""),
        (
            &["prune", "recipe.toml", "--dry-run"],
            "would delete 2 revisions\n",
        ),
        (&schedule, &init_note),
        (&["schema"], ""),
        (&["help", "plan"], ""),
    ];
    for (args, said) in verbs {
        let o = to_a_closed_pipe(sb.command(args));
        assert!(
            o.status.success(),
            "pipeline {args:?}: {}\n{}",
            o.status,
            stderr(&o)
        );
        assert_eq!(stderr(&o), said, "pipeline {args:?}");
    }
    // The schedule was written; the dry run deleted nothing.
    assert!(cron_dir.join("pipeline-recipe").is_file());
    assert_eq!(sb.revisions("images", "c-tiny-x64-case-a"), [1, 2, 3, 4]);

    // prune does all its work unread, and says on stderr what it did.
    let o = to_a_closed_pipe(sb.command(&["prune", "recipe.toml"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "deleted 2 revisions\n");
    assert_eq!(sb.revisions("images", "c-tiny-x64-case-a"), [3, 4]);

    // A run with nothing to build (every cell up to date, no VM): its
    // result table has no reader; its summary is said all the same.
    for (cell, store) in [(1, "images"), (0, "mirror"), (1, "mirror")] {
        let store = sb.path().join(store);
        write_current_revision(&store, &plan["cells"][cell], 5, "pipeline:recipe");
    }
    let mut run = sb.command(&["run", "recipe.toml"]);
    run.env("PIPELINE_ACCEL", "tcg");
    let o = to_a_closed_pipe(run);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with("\nnothing to do: 2 cells up to date\n"),
        "{}",
        stderr(&o)
    );
}

/// As a shell script with `set -o pipefail` runs it: the first line, then
/// the reader is gone while a large plan is still being written.
#[test]
fn plan_piped_into_head_prints_its_first_line_and_nothing_else() {
    let cases: Vec<String> = (0..900).map(|i| format!("{i:03}")).collect();
    let sb = sandbox(&cases.iter().map(String::as_str).collect::<Vec<_>>());
    let pipeline = sb.command(&[]);
    for form in ["", "--dot", "--json"] {
        let o = Command::new("bash")
            .arg("-c")
            .arg(r#"set -o pipefail; "$0" plan recipe.toml $1 | head -1; echo "exit status $?""#)
            .arg(pipeline.get_program())
            .arg(form)
            .current_dir(sb.path())
            .envs(pipeline.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let first = match form {
            "" => "plan for recipe.toml: 900 cells, 1 base, 2 targets, 8101 steps",
            "--dot" => "digraph plan {",
            _ => "{",
        };
        assert_eq!(stdout(&o), format!("{first}\nexit status 0\n"), "{form}");
        assert_eq!(stderr(&o), "", "{form}");
    }
}

/// Output that fails for another reason than a reader that has gone (a
/// full disk) is an error, and says what failed.
#[test]
fn a_full_standard_output_is_an_error() {
    for (args, what) in [
        (&["schema"][..], "to standard output"),
        (&["plan", "recipes/github-runner.toml"][..], "the plan"),
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = crate::support::pipeline(args)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!("error: failed to write {what}: No space left on device (os error 28)\n")
        );
    }
}

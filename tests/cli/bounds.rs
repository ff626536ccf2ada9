//! Input that used to hang pipeline, fill memory or pass validate only to
//! fail at build or upload (issue #13): each class refused at once, through
//! the real binary, with the file, line and key to fix.

use crate::support::{Sandbox, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A valid recipe around `matrix` (lines after `base = ["b"]`) and `build`
/// (lines of `[build]`), with one directory target, its template
/// `t.sh.tera`. The base is never fetched by validate or plan.
fn recipe(matrix: &str, build: &str) -> String {
    format!(
        "[image]\nprefix = \"b\"\ntemplate = \"t.sh.tera\"\n\n\
         [bases.b]\nurl = \"https://example.invalid/b.img\"\nsha256 = \"{}\"\n\n\
         [matrix]\nbase = [\"b\"]\n{matrix}\n\
         [build]\n{build}\n\
         [[target]]\nname = \"local\"\nkind = \"directory\"\npath = \"images\"\nkeep = 2\n",
        "0".repeat(64)
    )
}

/// `name = ["v0", …]` with `n` values.
fn axis(name: &str, n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| format!("\"v{i}\"")).collect();
    format!("{name} = [{}]\n", values.join(", "))
}

fn sandbox(recipe: &str, template: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("t.sh.tera", template);
    sb.write("r.toml", recipe);
    sb
}

const TEMPLATE: &str = "#!/bin/sh\necho {{ image_name }}\n";

/// 10^12 cells used to abort on allocation, a million took 17 s and 3.5 GB
/// before a word: now counted (not expanded) and refused in no time, with
/// `max_cells` to raise the limit; a large allowed plan is written as it is
/// made, and a reader that stops early is no error.
#[test]
fn a_huge_matrix_is_counted_and_refused_before_it_is_expanded() {
    let huge = (0..4)
        .map(|i| axis(&format!("a{i}"), 1000))
        .collect::<String>();
    let sb = sandbox(&recipe(&huge, ""), TEMPLATE);
    for verb in ["validate", "plan"] {
        let start = Instant::now();
        let o = sb.run(&[verb, "r.toml"]);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{verb} took long"
        );
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with(
                "error: the matrix has up to 1000000000000 cells \
                 (1 × 1000 × 1000 × 1000 × 1000), more than max_cells = 1000\n"
            ),
            "{err}"
        );
        assert!(err.contains("r.toml:9:1"), "{err}");
        assert!(err.contains("key `matrix`"), "{err}");
        assert!(err.contains("set `max_cells` in [build]"), "{err}");
    }

    // The limit counts includes, and `max_cells` raises it.
    let over = format!(
        "{}include = [{{ base = \"b\", a = \"x\" }}]\n",
        axis("a", 1000)
    );
    let sb = sandbox(&recipe(&over, ""), TEMPLATE);
    let o = sb.run(&["validate", "r.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("up to 1001 cells (1 × 1000 + 1 included)"),
        "{}",
        stderr(&o)
    );
    sb.write("r.toml", &recipe(&over, "max_cells = 1001"));
    let o = sb.run(&["validate", "r.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "r.toml is valid: 1001 cells, 1 target\n");
    sb.write("r.toml", &recipe(&over, "max_cells = 100001"));
    let o = sb.run(&["validate", "r.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("max_cells = 100001 is out of range 1..100000"),
        "{}",
        stderr(&o)
    );

    // 20,000 cells, allowed: the plan's first lines come while the rest is
    // still being written, and closing the pipe then ends it quietly.
    let big = format!("{}{}", axis("a", 100), axis("b", 200));
    let sb = sandbox(&recipe(&big, "max_cells = 20000"), TEMPLATE);
    let mut child = sb
        .command(&["plan", "r.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "plan for r.toml: 20000 cells, 1 base, 1 target, 140001 steps"
    );
    drop(lines);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

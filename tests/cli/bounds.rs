//! Input that used to hang pipeline, fill memory or pass validate only to
//! fail at build or upload (issue #13): each class refused at once, through
//! the real binary, with the file, line and key to fix.

use crate::support::{Sandbox, output_within, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
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

/// A FIFO as recipe, template or env file used to hang pipeline, /dev/zero
/// as the template read until memory ran out, nested loops rendered for
/// ever and a string doubled in a loop aborted the process. Each is
/// refused, naming the file or the cell, in validate, render, plan --status
/// and run alike (run renders every cell before it starts anything).
#[test]
fn inputs_and_renders_are_bounded() {
    let limit = Duration::from_secs(30);
    let sb = Sandbox::new();
    let cases = format!("{}\n", r#"case = ["x", "y"]"#);
    sb.write("r.toml", &recipe(&cases, ""));
    let mkfifo = |name: &str| {
        let path = sb.path().join(name);
        let _ = std::fs::remove_file(&path);
        let st = Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(st.success());
    };
    let sb = &sb;
    let validate = |recipe: &str| {
        let o = output_within(&mut sb.command(&["validate", recipe]), limit);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        stderr(&o)
    };

    mkfifo("fifo.toml");
    assert_eq!(
        validate("fifo.toml"),
        "error: failed to read recipe `fifo.toml`: not a regular file (a FIFO)\n\n1 problem found\n"
    );
    // run reads its env file before anything else.
    let o = output_within(
        &mut sb.command(&["run", "r.toml", "--env-file", "fifo.toml"]),
        limit,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: failed to read env file `fifo.toml`: not a regular file (a FIFO)\n"
    );
    mkfifo("t.sh.tera");
    let err = validate("r.toml");
    assert!(
        err.starts_with(
            "error: failed to read template `t.sh.tera`: not a regular file (a FIFO)\n"
        ),
        "{err}"
    );
    std::fs::remove_file(sb.path().join("t.sh.tera")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sb.path().join("t.sh.tera")).unwrap();
    let err = validate("r.toml");
    assert!(
        err.starts_with(
            "error: failed to read template `t.sh.tera`: not a regular file (a character device)\n"
        ),
        "{err}"
    );
    std::fs::remove_file(sb.path().join("t.sh.tera")).unwrap();

    // Output: 2^20 + 2 bytes, in every cell (reported once).
    sb.write(
        "t.sh.tera",
        "#!{% for i in range(end=1024) %}{% for j in range(end=1024) %}x{% endfor %}{% endfor %}\n",
    );
    let err = validate("r.toml");
    assert!(
        err.starts_with(
            "error: failed to render template: the script is larger than 1 MiB, the limit (cell base=b case=x)\n"
        ),
        "{err}"
    );
    assert!(err.contains("the same problem occurs in 2 cells"), "{err}");

    // Memory: refused long before it is all gone, and before the time limit.
    sb.write(
        "t.sh.tera",
        "#!/bin/sh\n{% set_global s = \"x\" %}{% for i in range(end=64) %}{% set_global s = s ~ s %}{% endfor %}{{ s }}\n",
    );
    let err = validate("r.toml");
    assert!(
        err.starts_with(
            "error: failed to render template: it needed more than 256 MiB of memory, \
             the limit for one cell (cell base=b case=x)\n"
        ),
        "{err}"
    );

    // Time: 10^10 iterations; the first cell's render is given up after 5 s
    // and no other is tried. The four commands run at once.
    sb.write(
        "t.sh.tera",
        "#!/bin/sh\n{% for a in range(end=100000) %}{% for b in range(end=100000) %}{% endfor %}{% endfor %}\n",
    );
    let commands: [&[&str]; 4] = [
        &["validate", "r.toml"],
        &["render", "r.toml", "--only", "case=y"],
        &["plan", "r.toml", "--status"],
        &["run", "r.toml"],
    ];
    std::thread::scope(|s| {
        let runs: Vec<_> = commands
            .iter()
            .map(|args| s.spawn(move || (args, output_within(&mut sb.command(args), limit))))
            .collect();
        for run in runs {
            let (args, o) = run.join().unwrap();
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            let cell = if args[0] == "render" { "y" } else { "x" };
            assert!(
                err.starts_with(&format!(
                    "error: failed to render template: still rendering after 5s, \
                     the limit for one cell (cell base=b case={cell})\n"
                )),
                "{args:?}: {err}"
            );
            assert!(err.contains("t.sh.tera:1:1"), "{args:?}: {err}");
            assert!(err.ends_with("\n1 problem found\n"), "{args:?}: {err}");
        }
    });
    // Nothing but the store the sandbox made.
    assert_eq!(sb.entries("images"), [pipeline::targets::MARKER]);
}

/// Each used to pass validate and fail later: an image name over 255 bytes
/// at upload, a template with CRLF line endings in the guest (which ran
/// `/bin/bash\r`), a channel track that is a path at `snap install`.
#[test]
fn names_are_checked_where_they_are_written() {
    let long = "v".repeat(250);
    let sb = sandbox(
        &recipe(&format!("case = [\"short\", \"{long}\"]\n"), ""),
        TEMPLATE,
    );
    let o = sb.run(&["validate", "r.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "error: the image name of cell base=b case={long} is 263 bytes long, \
             more than the 255 that Glance and file systems take\n"
        )),
        "{err}"
    );
    assert!(err.contains("r.toml:11:18"), "{err}");
    assert!(err.contains("key `matrix.case[1]`"), "{err}");
    assert!(err.ends_with("\n1 problem found\n"), "{err}");

    let sb = sandbox(&recipe("", ""), "#!/bin/bash\r\nset -eu\r\necho ok\r\n");
    let o = sb.run(&["validate", "r.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "error: the template has Windows line endings (a carriage return on 3 lines): \
             the guest would run `/bin/bash\\r`\n --> t.sh.tera:1:12\n"
        ),
        "{err}"
    );

    let sb = sandbox(&recipe("juju = [\"\", \"../stable\"]\n", ""), TEMPLATE);
    let o = sb.run(&["validate", "r.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "error: invalid juju channel: `../stable` is not a channel: the track `..` must be \
             a name: letters and digits, with single `.`, `-` or `_` between them\n  \
             --> r.toml:11:13\n"
        ),
        "{err}"
    );
}

/// Two targets in one place used to be accepted, and each run's prune of
/// one deleted the other's images: the same directory however it is spelled
/// (relative to the recipe, through `..` or a link), or the same cloud.
#[test]
fn two_targets_in_one_place_are_refused() {
    let targets = |paths: &[(&str, &str)]| {
        paths
            .iter()
            .map(|(name, place)| {
                let place = match place.strip_prefix("cloud:") {
                    Some(cloud) => format!("kind = \"openstack\"\ncloud = \"{cloud}\""),
                    None => format!("kind = \"directory\"\npath = \"{place}\""),
                };
                format!("\n[[target]]\nname = \"{name}\"\n{place}\nkeep = 2\n")
            })
            .collect::<String>()
    };
    let sb = Sandbox::new();
    sb.write("t.sh.tera", TEMPLATE);
    std::fs::create_dir(sb.path().join("images")).unwrap();
    std::os::unix::fs::symlink("images", sb.path().join("alias")).unwrap();
    let with = |extra: &str| {
        sb.write("r.toml", &format!("{}{extra}", recipe("", "")));
        let o = sb.run(&["validate", "r.toml"]);
        (o.status.code(), stderr(&o))
    };

    let (code, err) = with(&targets(&[("spelled", "sub/../images/.")]));
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(&format!(
            "error: targets `local` and `spelled` keep their images in the same directory {}/images\n",
            sb.path().canonicalize().unwrap().display()
        )),
        "{err}"
    );
    assert!(err.contains("key `target[1].path`"), "{err}");
    assert!(err.contains("(`local` is defined on line 15)"), "{err}");

    let (code, err) = with(&targets(&[("linked", "alias")]));
    assert_eq!(code, Some(2));
    assert!(err.contains("targets `local` and `linked`"), "{err}");

    let (code, err) = with(&targets(&[("a", "cloud:prod"), ("b", "cloud:prod")]));
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: targets `a` and `b` keep their images in the same cloud `prod`\n"),
        "{err}"
    );
    assert!(err.contains("key `target[2].cloud`"), "{err}");
    assert!(err.ends_with("\n1 problem found\n"), "{err}");

    // Places of their own are fine.
    let (code, err) = with(&targets(&[("other", "images/2"), ("a", "cloud:prod")]));
    assert_eq!(code, Some(0), "{err}");

    // Two names of one project of one cloud: only clouds.yaml says so, so
    // it is found where the stores are opened, before any request.
    let auth = "    auth:\n      auth_url: http://127.0.0.1:9/v3\n      username: u\n      \
                password: secret-p\n      project_name: images\n      user_domain_name: Default\n      \
                project_domain_name: Default\n";
    let clouds = sb.write(
        "clouds.yaml",
        &format!("clouds:\n  east:\n{auth}  alias:\n{auth}"),
    );
    sb.write(
        "r.toml",
        &format!(
            "{}{}",
            recipe("", ""),
            targets(&[("a", "cloud:east"), ("b", "cloud:alias")])
        ),
    );
    let o = sb
        .command(&["plan", "r.toml", "--status"])
        .env("OS_CLIENT_CONFIG_FILE", &clouds)
        .env_remove("OS_CLOUD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: targets `a` and `b` keep their images in the same place \
         (http://127.0.0.1:9/v3, project images in domain Default, region (any)): each would \
         delete the other's images as old revisions; give each target a project or region of \
         its own\n"
    );
}

/// A SHA256SUMS that lists the base twice with different digests used to
/// be read by its first line: either line could be the forged one, so the
/// base is refused before anything is fetched or built.
#[test]
fn a_base_listed_twice_with_different_digests_is_ambiguous() {
    let sb = Sandbox::new();
    sb.write("t.sh.tera", TEMPLATE);
    sb.write("b.img", "not an image: never read\n");
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    sb.write(
        "SHA256SUMS",
        &format!("{a} *b.img\n{a}  other.img\n{b}  ./b.img\n"),
    );
    let text = recipe("", "").replace(
        &format!(
            "url = \"https://example.invalid/b.img\"\nsha256 = \"{}\"",
            "0".repeat(64)
        ),
        "url = \"b.img\"\nsha256sums = \"SHA256SUMS\"",
    );
    sb.write("r.toml", &text);
    let o = sb.run(&["plan", "r.toml", "--status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: failed to resolve the checksum of base `b`: `b.img` is listed twice in \
             {}/SHA256SUMS with different digests (line 1: {a}, line 3: {b}): refusing to choose one\n",
            sb.path().display()
        )
    );
    assert!(stdout(&o).is_empty());
    assert!(!sb.path().join("cache").exists());

    // The same digest twice is no ambiguity.
    sb.write(
        "SHA256SUMS",
        &format!("{a} *b.img\n{}  ./b.img\n", a.to_uppercase()),
    );
    let o = sb.run(&["plan", "r.toml", "--status"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

//! What makes `pipeline`'s output fit for an insta snapshot: filters that
//! replace what differs between runs and machines (times, run ids, temp
//! paths, image ids, digests, durations, sizes, pids, console lines) with a
//! placeholder, and the parts of a run's output that a user reads at the end.

use std::process::Output;

/// Regex filters and their replacements, in the order they apply.
const FILTERS: &[(&str, &str)] = &[
    // The console tail of a failed boot: which kernel lines make it in
    // varies from boot to boot. As printed in the summary (indented)...
    (
        r"last console lines:(?:\n {6}.*)+",
        "last console lines:\n      [console tail]",
    ),
    // ...and as a JSON string.
    (
        r#"last console lines:\\n(?:[^"\\\n]|\\.)*""#,
        r#"last console lines:\n[console tail]""#,
    ),
    // Temp dirs of tests/cli (Sandbox) and of the OpenStack rig.
    (r"(?:/[\w.-]+)*/pipeline-test-\w{6}", "[sandbox]"),
    (r"(?:/[\w.-]+)*/pipeline-rig-\w{6}", "[rig]"),
    // Run ids: start time to the millisecond and a random suffix.
    (r"\b\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}\b", "[run-id]"),
    // RFC 3339 times (image creation, lock holders, KVM verdicts).
    (
        r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})",
        "[time]",
    ),
    // Clock times of progress lines.
    (r"\b\d{2}:\d{2}:\d{2}\b", "[hh:mm:ss]"),
    // Glance image ids, as wide as one: they stand in table columns.
    (
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    ),
    // The rig's ports.
    (r"\b127\.0\.0\.1:\d+\b", "127.0.0.1:[port]"),
    (r"\b[0-9a-f]{64}\b", "[sha256]"),
    // How long a step took.
    (
        r"\b(done in|failed after) \d+[a-z]+(?: \d+[a-z]+)*",
        "$1 [duration]",
    ),
    // Byte counts of progress lines (compressed images vary).
    (r"\b\d+\.\d MiB\b", "[size] MiB"),
    (r"\bpid \d+\b", "pid [pid]"),
];

/// The current insta settings plus the filters above, and the fixture
/// images, the test binary's `pipeline` and the repository as `[fixture:
/// <script>]`, `[pipeline]` and `[repo]`. Use as
/// `redacted().bind(|| insta::assert_snapshot!(…))`; a test adds its own
/// with `add_filter` first.
pub fn redacted() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (script, path) in super::built_fixtures() {
        let path = regex::escape(&path.display().to_string());
        settings.add_filter(&path, format!("[fixture: {script}]"));
    }
    settings.add_filter(&regex::escape(env!("CARGO_BIN_EXE_pipeline")), "[pipeline]");
    settings.add_filter(&regex::escape(env!("CARGO_MANIFEST_DIR")), "[repo]");
    for (regex, replacement) in FILTERS {
        settings.add_filter(regex, *replacement);
    }
    settings
}

/// The end of a run's stderr, from the `logs:` line: the summary (`N
/// built, …`, `nothing to do: …`, `interrupted: …`) or the cells that were
/// not built and why. The whole of stderr if the run never started.
pub fn run_summary(stderr: &str) -> &str {
    logs_line(stderr).map_or(stderr, |at| &stderr[at..])
}

/// Where the last `logs:` line of a run's stderr starts.
fn logs_line(stderr: &str) -> Option<usize> {
    if stderr.starts_with("logs: ") {
        return Some(0);
    }
    stderr.rfind("\nlogs: ").map(|at| at + 1)
}

/// What a user reads when a text-mode `run` ends: its exit code, the result
/// table (stdout) and the summary at the end of stderr (all of stderr if
/// the run failed before it started).
pub fn run_result(o: &Output) -> String {
    let err = super::stderr(o);
    let from = if logs_line(&err).is_some() {
        " (from `logs:`)"
    } else {
        " (the run did not start)"
    };
    format!(
        "exit code: {}\n--- stdout\n{}--- stderr{from}\n{}",
        o.status.code().map_or("none".to_owned(), |c| c.to_string()),
        super::stdout(o),
        run_summary(&err)
    )
}

/// A command's exit code and whole stdout and stderr, for a snapshot.
pub fn output(o: &Output) -> String {
    format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        o.status.code().map_or("none".to_owned(), |c| c.to_string()),
        super::stdout(o),
        super::stderr(o)
    )
}

#[test]
fn redactions_replace_what_varies_and_keep_the_rest() {
    let sample = format!(
        "\
logs: /tmp/pipeline-test-Ab3dEf/state/runs/tiny/20261201T201616.975Z-af2f54
20:16:19 boot tiny-tiny-x64-case-b-ok: done in 1m 12s
20:16:19 render tiny-tiny-x64-case-b-ok: done in 20ms
20:16:19 upload tiny-tiny-x64-case-b-ok@local: 5.0 MiB of 17.3 MiB (25%)
building 1 cell with up to 1 VM at a time (tcg, 1 vCPU, 256 MiB each)
would delete local tiny-tiny-x64-case-b-ok/1 (created 2026-12-01T20:16:19.123Z)
local  tiny-tiny-x64-case-b-ok/2  the VM did not power off within 20s
a  2b9e1c52-6a1f-4c0e-9a53-0b8d1c2e3f40  {sha}  http://127.0.0.1:58923/v2/images
another run of inc.toml is in progress (pid 4242 since 2026-12-01T20:16:19Z (inc.toml))
read /var/tmp/pipeline-rig-x1Y2z3/clouds.yaml; ran {pipeline} in {repo}
  c: failed at boot:c: the provisioning script exited with 1; last console lines:
      [    2.555621] Run /init as init process
      PIPELINE_RESULT efe5dd08c6ef4a9eb23a72790320ed36 script=1
  d: skipped: not started
\"error\": \"exited with 1; last console lines:\\n[    1.86] ACPI: \\\\_SB_.GSIF\\nPIPELINE_RESULT 34 script=1\",
",
        sha = "ab".repeat(32),
        pipeline = env!("CARGO_BIN_EXE_pipeline"),
        repo = env!("CARGO_MANIFEST_DIR"),
    );
    redacted().bind(|| {
        insta::assert_snapshot!(sample, @r#"
        logs: [sandbox]/state/runs/tiny/[run-id]
        [hh:mm:ss] boot tiny-tiny-x64-case-b-ok: done in [duration]
        [hh:mm:ss] render tiny-tiny-x64-case-b-ok: done in [duration]
        [hh:mm:ss] upload tiny-tiny-x64-case-b-ok@local: [size] MiB of [size] MiB (25%)
        building 1 cell with up to 1 VM at a time (tcg, 1 vCPU, 256 MiB each)
        would delete local tiny-tiny-x64-case-b-ok/1 (created [time])
        local  tiny-tiny-x64-case-b-ok/2  the VM did not power off within 20s
        a  xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx  [sha256]  http://127.0.0.1:[port]/v2/images
        another run of inc.toml is in progress (pid [pid] since [time] (inc.toml))
        read [rig]/clouds.yaml; ran [pipeline] in [repo]
          c: failed at boot:c: the provisioning script exited with 1; last console lines:
              [console tail]
          d: skipped: not started
        "error": "exited with 1; last console lines:\n[console tail]",
        "#)
    });
}

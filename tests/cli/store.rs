//! A damaged directory store, through the real CLI: metadata that is not a
//! regular file or not metadata at all, images shorter than their metadata
//! says, revisions that cannot be deleted, numbers at the limit, a store
//! that is not there (a file, a file system not mounted) and a revision
//! dated in the future. Most
//! stores here are written by hand (no VM); the tests that need `run` to
//! build use the tiny image.

use crate::support::{
    Sandbox, Tmpfs, copy_revision, output, output_within, redacted, run_result, sh, stderr, stdout,
    tiny_recipe, truncate, vm_lock, write_current_revision, write_revision,
};
use pipeline::targets::MARKER;
use std::time::Duration;

const IMAGE: &str = "tiny-tiny-x64-case-b-ok";
const OWNER: &str = "pipeline:tiny";
/// Listing a store with a FIFO in it takes milliseconds; a hang takes forever.
const PROMPTLY: Duration = Duration::from_secs(30);

/// The sandbox's `images/<IMAGE>` directory.
fn image_dir(sb: &Sandbox) -> std::path::PathBuf {
    sb.path().join("images").join(IMAGE)
}

#[test]
fn metadata_that_is_not_a_regular_file_or_not_metadata_is_skipped_with_a_warning() {
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let store = sb.path().join("images");
    for n in [1, 2, 7] {
        write_revision(&store, IMAGE, n, OWNER, b"a qcow2");
    }
    let dir = image_dir(&sb);
    // A FIFO would hang a plain read; a directory fails one.
    sh(&format!("mkfifo {}/3.json", dir.display()));
    std::fs::create_dir(dir.join("4.json")).unwrap();
    std::fs::write(dir.join("5.json"), "{\"id\": ").unwrap();
    std::fs::write(dir.join("6.json"), vec![b' '; 2 << 20]).unwrap();
    let warnings = [
        "warning: [sandbox]/images/tiny-tiny-x64-case-b-ok/6.json: too big for a revision's metadata (2.0 MiB; at most 256.0 KiB): skipped",
        "warning: [sandbox]/images/tiny-tiny-x64-case-b-ok/5.json: not a revision's metadata (EOF while parsing a value at line 1 column 7): skipped",
        "warning: [sandbox]/images/tiny-tiny-x64-case-b-ok/4.json: not a regular file (a directory): skipped",
        "warning: [sandbox]/images/tiny-tiny-x64-case-b-ok/3.json: not a regular file (a FIFO): skipped",
    ]
    .join("\n");

    let o = output_within(&mut sb.command(&["latest", "tiny.toml"]), PROMPTLY);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("{IMAGE}/7")), "{}", stdout(&o));
    redacted().bind(|| {
        assert_eq!(
            redacted_text(&stderr(&o)),
            format!("{warnings}\n"),
            "latest warns about each, once"
        );
        insta::assert_snapshot!("latest-unreadable-metadata", output(&o));
    });

    let o = output_within(
        &mut sb.command(&["plan", "tiny.toml", "--status"]),
        PROMPTLY,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(redacted_text(&stderr(&o)), format!("{warnings}\n"));

    // keep = 2: revision 1 goes; what could not be read stays, untouched.
    let o = output_within(&mut sb.command(&["prune", "tiny.toml"]), PROMPTLY);
    assert!(o.status.success(), "{}", stderr(&o));
    redacted().bind(|| insta::assert_snapshot!("prune-unreadable-metadata", output(&o)));
    assert_eq!(
        sb.entries(&format!("images/{IMAGE}")),
        [
            "2.json", "2.qcow2", "3.json", "4.json", "5.json", "6.json", "7.json", "7.qcow2"
        ]
    );
    let fifo = std::fs::symlink_metadata(dir.join("3.json")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
}

/// `text` with the sandbox's path redacted, as in a snapshot.
fn redacted_text(text: &str) -> String {
    regex::Regex::new(r"(?:/[\w.-]+)*/pipeline-test-\w{6}")
        .unwrap()
        .replace_all(text, "[sandbox]")
        .into_owned()
}

#[test]
fn prune_deletes_what_it_can_reports_every_failure_and_finishes_the_rest_next_time() {
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let store = sb.path().join("images");
    for n in 1..=6 {
        write_revision(&store, IMAGE, n, OWNER, b"a qcow2");
    }
    let dir = image_dir(&sb);
    // Damaged: its image is empty. Ours, so prune removes it.
    truncate(&dir.join("6.qcow2"), 0);
    // Damaged too, but another recipe's: never touched.
    write_revision(&store, IMAGE, 8, "pipeline:other", b"theirs");
    truncate(&dir.join("8.qcow2"), 1);
    // Manifests that cannot be removed (directories with something in
    // them: root may remove any file, but unlink never removes a
    // directory). The deletes of 1 and 2 stop there, after the image.
    for n in [1, 2] {
        std::fs::create_dir_all(dir.join(format!("{n}.manifest.json/x"))).unwrap();
    }

    let o = output_within(
        &mut sb.command(&["prune", "tiny.toml", "--dry-run"]),
        PROMPTLY,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    redacted().bind(|| insta::assert_snapshot!("prune-damaged-dry-run", output(&o)));

    // keep = 2 of [5 4 3 2 1]: 3, 2 and 1 go, and the damaged 6.
    let o = output_within(&mut sb.command(&["prune", "tiny.toml"]), PROMPTLY);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    for n in [2, 1] {
        assert!(
            err.contains(&format!("  local {IMAGE}/{n}: failed to remove ")),
            "{err}"
        );
    }
    redacted().bind(|| insta::assert_snapshot!("prune-some-fail", output(&o)));
    // What was deleted is gone; what failed lost its image first, so it no
    // longer counts.
    assert_eq!(
        sb.entries(&format!("images/{IMAGE}")),
        [
            "1.json",
            "1.manifest.json",
            "2.json",
            "2.manifest.json",
            "4.json",
            "4.qcow2",
            "5.json",
            "5.qcow2",
            "8.json",
            "8.qcow2",
        ]
    );
    let latest = stdout(&sb.run(&["latest", "tiny.toml", "--json"]));
    let latest: serde_json::Value = serde_json::from_str(&latest).unwrap();
    assert_eq!(latest[0]["images"]["local"], format!("{IMAGE}/5"));

    // Once they can be removed, the next prune finishes the half-deleted.
    for n in [1, 2] {
        std::fs::remove_dir_all(dir.join(format!("{n}.manifest.json"))).unwrap();
    }
    let o = output_within(&mut sb.command(&["prune", "tiny.toml"]), PROMPTLY);
    assert!(o.status.success(), "{}", stderr(&o));
    redacted().bind(|| insta::assert_snapshot!("prune-finishes-half-deleted", output(&o)));
    assert_eq!(
        sb.entries(&format!("images/{IMAGE}")),
        [
            "4.json", "4.qcow2", "5.json", "5.qcow2", "8.json", "8.qcow2"
        ]
    );
    let o = sb.run(&["prune", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "deleted 0 revisions\n");
}

#[test]
fn a_damaged_newest_image_does_not_count_and_run_rebuilds_it() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let o = sb.run(&["run", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let store = sb.path().join("images");
    let dir = image_dir(&sb);
    // Revision 2 is the same build as 1, but its image was cut to nothing
    // (a full disk, a copy gone wrong).
    copy_revision(&store, IMAGE, 1, 2);
    truncate(&dir.join("2.qcow2"), 0);

    let o = sb.run(&["latest", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{IMAGE}/1 ")),
        "{}",
        stdout(&o)
    );
    redacted().bind(|| insta::assert_snapshot!("latest-damaged-newest", output(&o)));

    let o = sb.run(&["plan", "tiny.toml", "--status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    let why = format!(
        "build {IMAGE}: the newest image on local, {IMAGE}/2, is damaged (2.qcow2 has 0 bytes of "
    );
    assert!(plan.contains(&why), "{plan}");
    redacted().bind(|| insta::assert_snapshot!("plan-status-damaged-newest", output(&o)));

    // run rebuilds it, says why, and its prune removes the damaged one.
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&why), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}/2.json: damaged (2.qcow2 has 0 bytes of ",
            dir.display()
        )),
        "{err}"
    );
    assert!(
        sb.run_log().contains(&format!(
            "removed the damaged {IMAGE}/2 (2.qcow2 has 0 bytes"
        )),
        "{}",
        sb.run_log()
    );
    assert_eq!(sb.revisions("images", IMAGE), [1, 3]);
    // What it said about the damage, as it went, and the result.
    let said: Vec<&str> = err
        .lines()
        .filter(|l| {
            (l.contains("warning: ") && l.contains(IMAGE))
                || l.contains(&format!("build {IMAGE}: "))
                || l.contains("removed the damaged")
        })
        .collect();
    let shown = format!(
        "{}--- said on the way\n{}\n",
        run_result(&o),
        said.join("\n")
    );
    redacted().bind(|| insta::assert_snapshot!("run-rebuilds-damaged", shown));
    let o = sb.run(&["run", "tiny.toml"]);
    assert!(stderr(&o).contains("nothing to do"), "{}", stderr(&o));

    // The prune step of a run deletes what it can and fails the cell with
    // every failure: revision 1's manifest cannot be removed.
    copy_revision(&store, IMAGE, 3, 4);
    std::fs::remove_file(dir.join("1.manifest.json")).unwrap();
    std::fs::create_dir_all(dir.join("1.manifest.json/x")).unwrap();
    let o = sb.run(&["run", "tiny.toml", "--force"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "failed at prune:{IMAGE}@local: 1 of 2 revisions could not be deleted:"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{IMAGE}/1: failed to remove {}/1.manifest.json: ",
            dir.display()
        )),
        "{err}"
    );
    redacted().bind(|| insta::assert_snapshot!("run-prune-fails", run_result(&o)));
    // 3 went; 1 lost its image, which it no longer counts without.
    assert_eq!(
        sb.entries(&format!("images/{IMAGE}"))
            .into_iter()
            .filter(|f| !f.starts_with('.'))
            .filter(|f| !f.ends_with(".manifest.json") || f.starts_with("1."))
            .collect::<Vec<_>>(),
        [
            "1.json",
            "1.manifest.json",
            "4.json",
            "4.qcow2",
            "5.json",
            "5.qcow2"
        ]
    );
    std::fs::remove_dir_all(dir.join("1.manifest.json")).unwrap();
    let o = sb.run(&["prune", "tiny.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("deleted local {IMAGE}/1 (created ")),
        "{}",
        stdout(&o)
    );
    assert_eq!(sb.revisions("images", IMAGE), [4, 5]);
}

#[test]
fn a_revision_number_at_the_limit_fails_the_upload_instead_of_wrapping() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let store = sb.path().join("images");
    let max = u64::MAX;
    // Another recipe's: every number in the directory counts.
    write_revision(&store, IMAGE, max, "pipeline:other", b"theirs");

    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let dir = image_dir(&sb);
    assert!(
        err.contains(&format!(
            "cannot number a new revision in {}: {max} is in use, the highest number a revision can have",
            dir.display()
        )),
        "{err}"
    );
    redacted().bind(|| insta::assert_snapshot!("run-number-at-the-limit", run_result(&o)));
    // Nothing was published, under 0 or any other number.
    assert_eq!(
        sb.entries(&format!("images/{IMAGE}")),
        [".lock", &format!("{max}.json"), &format!("{max}.qcow2")]
    );

    // Moved aside, the numbers start again, and the snapshot waited in the
    // cache: the next run only uploads. Here the new directory starts with
    // a damaged revision of ours, which the upload replaces and the prune
    // removes.
    std::fs::rename(&dir, sb.path().join("aside")).unwrap();
    write_revision(&store, IMAGE, 1, OWNER, b"a qcow2");
    truncate(&dir.join("1.qcow2"), 0);
    let o = sb.run(&["run", "tiny.toml"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "upload {IMAGE}: the newest image on local, {IMAGE}/1, is damaged (1.qcow2 has 0 bytes of 7 bytes); a snapshot of this build is cached from an earlier run; uploading to local"
        )),
        "{err}"
    );
    let booted = sb
        .run_log()
        .lines()
        .any(|l| l.contains(" boot ") && l.ends_with(": started"));
    assert!(!booted, "{}", sb.run_log());
    assert_eq!(sb.revisions("images", IMAGE), [2]);
}

/// `latest`, `plan --status`, `prune` and `run` on the tiny recipe: each
/// output, for a store that is not there (each must fail, and `run` before
/// it boots anything).
fn every_verb_on(sb: &Sandbox) -> String {
    let mut shown = String::new();
    for args in [
        &["latest", "tiny.toml"][..],
        &["plan", "tiny.toml", "--status"],
        &["prune", "tiny.toml"],
        &["prune", "tiny.toml", "--dry-run"],
        &["run", "tiny.toml"],
    ] {
        let o = output_within(&mut sb.command(args), PROMPTLY);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", output(&o));
        shown.push_str(&format!("--- {}\n{}", args.join(" "), output(&o)));
    }
    assert!(sb.entries("state/runs").is_empty(), "a run started");
    shown
}

/// `pipeline init` on the tiny recipe, without the KVM probe.
fn init(sb: &Sandbox) -> std::process::Output {
    let mut cmd = sb.command(&["init", "tiny.toml"]);
    cmd.env("PIPELINE_ACCEL", "tcg");
    output_within(&mut cmd, Duration::from_secs(120))
}

#[test]
fn a_store_path_that_is_a_file_is_an_error_for_every_verb_but_init() {
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let store = sb.path().join("images");
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::write(&store, "not a store\n").unwrap();
    let shown = every_verb_on(&sb);
    assert!(
        shown.contains(&format!(
            "the store {} is a regular file, not a directory: point the target's path at the store, or move it aside and run `pipeline init`",
            store.display()
        )),
        "{shown}"
    );
    let o = init(&sb);
    assert_eq!(o.status.code(), Some(1), "{}", output(&o));
    let problem = format!(
        "{} is a regular file, not a directory: point the target's path at the store, or move it aside",
        store.display()
    );
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("problem  target local ") && l.ends_with(&problem)),
        "{}",
        stdout(&o)
    );
    assert_eq!(std::fs::read_to_string(&store).unwrap(), "not a store\n");
    redacted().bind(|| insta::assert_snapshot!("store-path-is-a-file", shown));

    // Missing altogether: the same, and init creates it.
    std::fs::remove_file(&store).unwrap();
    let shown = every_verb_on(&sb);
    assert!(
        shown.contains(&format!(
            "the store {} does not exist: mount the store there, or run `pipeline init` to create it",
            store.display()
        )),
        "{shown}"
    );
    assert!(!store.exists());
    let o = init(&sb);
    assert!(o.status.success(), "{}", output(&o));
    assert!(
        stdout(&o).contains("created  target local"),
        "{}",
        stdout(&o)
    );
    let o = sb.run(&["latest", "tiny.toml"]);
    assert!(o.status.success(), "{}", output(&o));
}

/// An empty mount point is what a store that is not mounted looks like:
/// the marker `init` wrote is on the file system that is gone.
#[test]
fn a_store_whose_file_system_is_not_mounted_is_an_error_and_nothing_is_written_under_it() {
    let sb = Sandbox::new();
    // Two cells: prune says what is wrong with the store once.
    tiny_recipe(&["b-ok", "c-ok"]).write(&sb);
    let store = sb.path().join("images");
    std::fs::remove_file(store.join(MARKER)).unwrap();
    let mut tmpfs = Tmpfs::mount(&store, "256m");
    let o = init(&sb);
    assert!(o.status.success(), "{}", output(&o));
    assert!(
        stdout(&o).contains("created  target local"),
        "{}",
        stdout(&o)
    );
    let o = sb.run(&["latest", "tiny.toml"]);
    assert!(o.status.success(), "{}", output(&o));

    tmpfs.unmount();
    assert_eq!(sb.entries("images"), Vec::<String>::new());
    let shown = every_verb_on(&sb);
    assert!(
        shown.contains(&format!(
            "{} is not the store: it has no {MARKER} (an unmounted mount point?); mount the store there, or run `pipeline init` to make this directory the store",
            store.display()
        )),
        "{shown}"
    );
    assert_eq!(
        sb.entries("images"),
        Vec::<String>::new(),
        "written under it"
    );
    redacted().bind(|| insta::assert_snapshot!("store-not-mounted", shown));
}

/// A store from before the marker holds revisions: it is marked, once,
/// and said so.
#[test]
fn a_store_made_before_the_marker_is_marked_with_a_warning() {
    let sb = Sandbox::new();
    tiny_recipe(&["b-ok"]).write(&sb);
    let store = sb.path().join("images");
    std::fs::remove_file(store.join(MARKER)).unwrap();
    write_revision(&store, IMAGE, 1, OWNER, b"a qcow2");
    let o = sb.run(&["latest", "tiny.toml"]);
    assert!(o.status.success(), "{}", output(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "warning: {}: a store made before pipeline marked its stores: marked it now ({MARKER})\n",
            store.display()
        )
    );
    assert!(stdout(&o).contains(&format!("{IMAGE}/1")), "{}", stdout(&o));
    assert!(store.join(MARKER).is_file());
    let o = sb.run(&["latest", "tiny.toml"]);
    assert_eq!(stderr(&o), "");
}

/// A revision dated in the future (a clock that is wrong, here or where it
/// was built) is reported, and with rebuild_after it is not fresh forever.
#[test]
fn a_revision_dated_in_the_future_is_reported() {
    let sb = Sandbox::new();
    let path = tiny_recipe(&["b-ok"]).write(&sb);
    let o = sb.run(&["plan", "tiny.toml", "--status", "--json"]);
    assert!(o.status.success(), "{}", output(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let store = sb.path().join("images");
    write_current_revision(&store, &plan["cells"][0], 1, OWNER);
    let json = image_dir(&sb).join("1.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(
        &json,
        text.replace("2026-01-01T00:00:00Z", "2099-01-01T00:00:00Z"),
    )
    .unwrap();

    let o = sb.run(&["plan", "tiny.toml", "--status"]);
    assert!(o.status.success(), "{}", output(&o));
    let warning = format!("warning: {IMAGE}/1 on target `local` is dated 2099-01-01T00:00:00Z, ");
    assert!(stderr(&o).starts_with(&warning), "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with(" ahead of this machine's clock: one of the two clocks is wrong\n"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(&format!("skip {IMAGE}: up to date")),
        "{}",
        stdout(&o)
    );

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("[build]\n", "[build]\nrebuild_after = \"7d\"\n"),
    )
    .unwrap();
    let o = sb.run(&["plan", "tiny.toml", "--status"]);
    assert!(o.status.success(), "{}", output(&o));
    assert!(stderr(&o).starts_with(&warning), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "build {IMAGE}: the newest image is dated in the future, so its age is unknown (rebuild_after is 7days)"
        )),
        "{}",
        stdout(&o)
    );
}

//! `pipeline schedule`: idempotent install and removal, and a cron line that
//! the real Debian cron daemon runs.

use crate::support::{Recipe, Sandbox, feed, output, redacted, repo, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// [`redacted`] plus the times that `schedule` derives from the recipe's
/// path (a sandbox's differs every run): the minute and the hour.
fn schedule_redacted() -> insta::Settings {
    let mut settings = redacted();
    settings.add_filter(r"\b\d{1,2} (\*/\d+|\d{1,2}) \* \* \*", "[minute] $1 * * *");
    settings.add_filter(r"\[minute\] \d{1,2} \*", "[minute] [hour] *");
    settings.add_filter(r"(OnCalendar=\S+ \d\d/\d+):\d\d:00", "$1:[minute]:00");
    settings
}

/// `nightly.toml`, on a base that is never fetched.
fn sandbox_with_recipe() -> Sandbox {
    let sb = Sandbox::new();
    Recipe::new("nightly", "nightly", "#!/bin/sh\necho ok\n")
        .base("tiny.qcow2", &"0".repeat(64))
        .write(&sb);
    sb
}

#[test]
fn a_cron_entry_is_installed_once_and_removed() {
    let sb = sandbox_with_recipe();
    let cron = sb.path().join("cron.d");
    let cron_dir = cron.to_str().unwrap();
    let log = sb.path().join("logs/nightly.log");
    let args = [
        "schedule",
        "nightly.toml",
        "--every",
        "6h",
        "--cron-dir",
        cron_dir,
        "--log",
        log.to_str().unwrap(),
    ];
    let o = sb.run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("changed pipeline-nightly: runs every 6h ("),
        "{}",
        stdout(&o)
    );
    // What each call printed, in order.
    let mut said = stdout(&o);
    let o = sb.run(&args);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("unchanged pipeline-nightly:"),
        "{}",
        stdout(&o)
    );
    said.push_str(&stdout(&o));

    let file = cron.join("pipeline-nightly");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with('\n'),
        "cron ignores a last line without a newline"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let line = text.lines().last().unwrap();
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert!(fields[0].parse::<u32>().unwrap() < 60, "{line}");
    assert_eq!(&fields[1..6], ["*/6", "*", "*", "*", "root"], "{line}");
    let recipe = sb.path().canonicalize().unwrap().join("nightly.toml");
    assert!(
        fields[6].contains(&format!(
            " run '{}' >>'{}' 2>&1",
            recipe.display(),
            log.display()
        )),
        "{line}"
    );
    assert!(
        log.parent().unwrap().is_dir(),
        "the log directory is created"
    );

    // A different interval changes the entry in place.
    let every_6h = text;
    let o = sb.run(&[
        "schedule",
        "nightly.toml",
        "--every",
        "12h",
        "--cron-dir",
        cron_dir,
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(stdout(&o).starts_with("changed"), "{}", stdout(&o));
    said.push_str(&stdout(&o));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains(" */12 * * * root ")
    );

    let remove = [
        "schedule",
        "nightly.toml",
        "--remove",
        "--cron-dir",
        cron_dir,
    ];
    let removed = stdout(&sb.run(&remove));
    assert!(removed.starts_with("changed pipeline-nightly: removed"));
    assert!(!file.exists());
    let again = stdout(&sb.run(&remove));
    assert!(again.starts_with("unchanged pipeline-nightly: removed"));
    said.push_str(&removed);
    said.push_str(&again);
    let shown = format!("{said}--- cron.d/pipeline-nightly, every 6h\n{every_6h}");
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-cron-d", shown));
}

#[test]
fn intervals_cron_cannot_express_are_refused() {
    let sb = sandbox_with_recipe();
    let o = sb.run(&[
        "schedule",
        "nightly.toml",
        "--every",
        "5h",
        "--cron-dir",
        sb.path().join("c").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cron cannot run every 5h evenly"),
        "{}",
        stderr(&o)
    );
    assert!(!sb.path().join("c/pipeline-nightly").exists());
    redacted().bind(|| insta::assert_snapshot!("schedule-every-5h", output(&o)));
}

#[test]
fn a_systemd_timer_has_a_calendar_systemd_accepts() {
    let sb = sandbox_with_recipe();
    let units = sb.path().join("units");
    let log = sb.path().join("n.log");
    let args = [
        "schedule",
        "nightly.toml",
        "--every",
        "6h",
        "--systemd",
        "--unit-dir",
        units.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    let first = stdout(&sb.run(&args));
    assert!(first.starts_with("changed"), "{first}");
    assert!(stdout(&sb.run(&args)).starts_with("unchanged"));
    let timer = std::fs::read_to_string(units.join("pipeline-nightly.timer")).unwrap();
    let service = std::fs::read_to_string(units.join("pipeline-nightly.service")).unwrap();
    assert!(service.contains(" run /"), "{service}");
    let shown = format!(
        "{first}--- pipeline-nightly.timer\n{timer}--- pipeline-nightly.service\n{service}"
    );
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-systemd", shown));
    let calendar = timer
        .lines()
        .find_map(|l| l.strip_prefix("OnCalendar="))
        .expect("OnCalendar");
    let check = Command::new("systemd-analyze")
        .args(["calendar", calendar])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_user_crontab_block_is_idempotent_and_leaves_the_rest_alone() {
    let sb = sandbox_with_recipe();
    let saved = Command::new("crontab").arg("-l").output().unwrap();
    let original = if saved.status.success() {
        String::from_utf8(saved.stdout).unwrap()
    } else {
        String::new()
    };
    let restore = |text: &str| {
        let o = feed(Command::new("crontab").arg("-"), text.as_bytes()).unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    restore(&format!("{original}# a line of someone else's\n"));
    let log = sb.path().join("n.log");
    let args = [
        "schedule",
        "nightly.toml",
        "--every",
        "1d",
        "--user",
        "--log",
        log.to_str().unwrap(),
    ];
    let first = stdout(&sb.run(&args));
    let second = stdout(&sb.run(&args));
    let listed =
        String::from_utf8(Command::new("crontab").arg("-l").output().unwrap().stdout).unwrap();
    let removed = stdout(&sb.run(&["schedule", "nightly.toml", "--user", "--remove"]));
    let after =
        String::from_utf8(Command::new("crontab").arg("-l").output().unwrap().stdout).unwrap();
    restore(&original);
    assert!(first.starts_with("changed"), "{first}");
    assert!(second.starts_with("unchanged"), "{second}");
    assert_eq!(
        listed.matches("# BEGIN pipeline-nightly").count(),
        1,
        "{listed}"
    );
    assert!(listed.contains("# a line of someone else's"));
    assert!(removed.starts_with("changed"), "{removed}");
    assert_eq!(after, format!("{original}# a line of someone else's\n"));
    let block = &listed[listed.find("# BEGIN pipeline-nightly").unwrap()..];
    let block = &block[..block.find("# END pipeline-nightly\n").unwrap() + 23];
    let shown = format!("{first}{second}{removed}--- the block in the crontab\n{block}");
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-user-crontab", shown));
}

/// The real test of a cron line: Debian's cron daemon reads the file and runs
/// it. `--program` points the entry at a stand-in that records its arguments.
#[test]
fn debian_cron_runs_the_installed_entry() {
    let sb = sandbox_with_recipe();
    let marker = sb.path().join("fired");
    let stand_in = sb.write(
        "stand-in pipeline",
        &format!("#!/bin/sh\necho \"$@\" >>'{}'\n", marker.display()),
    );
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A unique recipe name, so the entry cannot clash with a real one.
    let name = format!("crontest{}", std::process::id());
    let recipe = sb.path().join(format!("{name}.toml"));
    std::fs::copy(sb.path().join("nightly.toml"), &recipe).unwrap();
    let log = sb.path().join("cron.log");
    let install = sb.run(&[
        "schedule",
        recipe.to_str().unwrap(),
        "--every",
        "1m",
        "--program",
        stand_in.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(install.status.success(), "{}", stderr(&install));
    let entry = format!("/etc/cron.d/pipeline-{name}");
    struct Cleanup(String, Option<std::process::Child>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            if let Some(c) = &mut self.1 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    // Start cron unless it already runs (CI machines start with no daemons).
    let running = Command::new("pgrep")
        .args(["-x", "cron"])
        .status()
        .unwrap()
        .success();
    let daemon = (!running).then(|| {
        Command::new("/usr/sbin/cron")
            .arg("-f")
            .spawn()
            .expect("cron is installed")
    });
    let _cleanup = Cleanup(entry.clone(), daemon);

    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(130),
            "cron never ran {entry}:\n{}",
            std::fs::read_to_string(&entry).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let fired = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        fired.lines().next().unwrap(),
        format!("run {}", recipe.canonicalize().unwrap().display())
    );
    let _ = repo();
}

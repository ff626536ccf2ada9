//! `pipeline schedule`: idempotent install and removal, a cron line that
//! the real Debian cron daemon runs, values that cron, sh and systemd would
//! otherwise interpret (encoded or refused), env files that reach the run
//! literally, and one entry per recipe.

use crate::support::{Recipe, Sandbox, Target, feed, output, redacted, repo, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
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

/// A folder name with what sh, cron and systemd each read specially:
/// quotes, `%`, `$`, backticks, `$(…)`, backslashes (before `%`, `\` and a
/// letter), `;` and spaces. Had anything run it, a `pwned` file appears.
const HOSTILE: &str = r#"it's 100% "$HOME" `touch pwned` $(touch pwned) \% \\ a\b ;"#;

/// A sandbox with `nightly.toml` (and its template) in the folder `folder`
/// (which may have slashes), and the recipe's absolute path.
fn sandbox_with_recipe_in(folder: &str) -> (Sandbox, PathBuf) {
    let sb = sandbox_with_recipe();
    let dir = sb.path().join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["nightly.toml", "nightly.sh.tera"] {
        std::fs::rename(sb.path().join(file), dir.join(file)).unwrap();
    }
    let recipe = dir.canonicalize().unwrap().join("nightly.toml");
    (sb, recipe)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A stand-in for `pipeline` at `path`: it writes its working directory,
/// its arguments (one a line) and every PIPELINE_SECRET_* variable it was
/// given, and PIPELINE_CACHE_DIR and PIPELINE_STATE_DIR, to `<path>.out`,
/// and `recorded <argc>` to stdout.
fn recorder(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        "#!/bin/sh\n{ pwd; for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done; env | grep -E '^PIPELINE_(SECRET_|CACHE_DIR=|STATE_DIR=)' | sort; } >\"$0.out\"\necho \"recorded $#\"\n",
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// What a [`recorder`] wrote.
#[derive(Debug, PartialEq)]
struct Recorded {
    cwd: PathBuf,
    args: Vec<String>,
    secrets: Vec<String>,
    /// `PIPELINE_CACHE_DIR=…` and `PIPELINE_STATE_DIR=…`, if it got them.
    layout: Vec<String>,
}

/// What a run under an entry scheduled from `sb` must get: the sandbox's
/// cache and state directories (see `Sandbox::command`), absolute.
fn sandbox_layout(sb: &Sandbox) -> Vec<String> {
    let root = sb.path().canonicalize().unwrap();
    vec![
        format!("PIPELINE_CACHE_DIR={}", root.join("cache").display()),
        format!("PIPELINE_STATE_DIR={}", root.join("state").display()),
    ]
}

fn recorded(recorder: &Path) -> Option<Recorded> {
    let out = PathBuf::from(format!("{}.out", recorder.display()));
    let text = std::fs::read_to_string(out).ok()?;
    let mut lines = text.lines();
    let cwd = PathBuf::from(lines.next()?);
    let (args, env) = lines.partition::<Vec<&str>, _>(|l| l.starts_with("arg "));
    let (secrets, layout) = env
        .into_iter()
        .partition::<Vec<&str>, _>(|l| l.starts_with("PIPELINE_SECRET_"));
    Some(Recorded {
        cwd,
        args: args.iter().map(|a| a["arg ".len()..].to_owned()).collect(),
        secrets: secrets.iter().map(|l| l.to_string()).collect(),
        layout: layout.iter().map(|l| l.to_string()).collect(),
    })
}

/// `pipeline run --env-file ENV RECIPE` (or without the env file).
fn run_args(env: Option<&Path>, recipe: &Path) -> Vec<String> {
    let mut args = vec!["run".to_owned()];
    if let Some(env) = env {
        args.extend(["--env-file".to_owned(), s(env).to_owned()]);
    }
    args.push(s(recipe).to_owned());
    args
}

/// An env file of `text`, mode 0600, owned by whoever runs the tests.
fn env_file(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_owned()
}

/// The command field of a cron line (`fields` time and user fields before it).
fn cron_command(line: &str, fields: usize) -> &str {
    line.splitn(fields + 1, ' ').last().unwrap()
}

/// Run a cron command the way Debian's cron does (as checked against the
/// daemon in [`debian_cron_runs_the_installed_entry`]): `\%` becomes `%`,
/// `\\` becomes `\`, any other `\c` stays, an unescaped `%` would end the
/// command (the rest going to its stdin), then `/bin/sh -c` it in the home
/// directory with cron's small environment.
fn run_as_cron(command: &str, home: &Path) -> Output {
    let mut sh = String::new();
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('%' | '\\')) => sh.push(n),
                Some(n) => {
                    sh.push('\\');
                    sh.push(n);
                }
                None => sh.push('\\'),
            },
            '%' => panic!("cron would cut the command at an unescaped %: {command}"),
            c => sh.push(c),
        }
    }
    Command::new("/bin/sh")
        .args(["-c", &sh])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", home)
        .env("SHELL", "/bin/sh")
        .env("LOGNAME", "root")
        .current_dir(home)
        .output()
        .unwrap()
}

/// Nothing in `dirs` is named `pwned`: no shell ran a word of a value.
fn assert_nothing_ran(dirs: &[&Path]) {
    for dir in dirs {
        assert!(
            !dir.join("pwned").exists(),
            "a value was run as a command in {}",
            dir.display()
        );
    }
}

/// Tests that edit root's crontab take turns.
fn crontab_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Root's crontab now ("" for none).
fn crontab() -> String {
    let o = Command::new("crontab").arg("-l").output().unwrap();
    if o.status.success() {
        String::from_utf8(o.stdout).unwrap()
    } else {
        String::new()
    }
}

fn set_crontab(text: &str) {
    let o = feed(Command::new("crontab").arg("-"), text.as_bytes()).unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The lines of a crontab block, `# BEGIN name` to `# END name`.
fn crontab_block(crontab: &str, name: &str) -> String {
    let begin = crontab
        .find(&format!("# BEGIN {name}\n"))
        .unwrap_or_else(|| panic!("no block {name} in {crontab}"));
    let end_marker = format!("# END {name}\n");
    let end = crontab[begin..].find(&end_marker).unwrap() + begin + end_marker.len();
    crontab[begin..end].to_owned()
}

/// How systemd itself reads a unit: `systemd --test` (as nobody: it refuses
/// to run as root) loads the units of `units` and dumps them; the settings
/// of `unit` as systemd parsed them, `Key: value` (the ExecStart= command
/// line as `Command Line: …`, re-quoted by systemd).
fn systemd_parsed(sb: &Sandbox, units: &Path, unit: &str) -> Vec<(String, String)> {
    // nobody must reach the units.
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("/lib/systemd/systemd")
        .args(["--test", "--system", "--log-target=console"])
        .arg(format!("--unit={unit}"))
        // Our units first, then the system's (for the targets a service needs).
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "systemd --test failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains(unit),
        "systemd complained about {unit}:\n{err}"
    );
    let start = dump
        .find(&format!("-> Unit {unit}:\n"))
        .unwrap_or_else(|| panic!("systemd did not load {unit}"));
    dump[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("-> Unit "))
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn setting<'a>(parsed: &'a [(String, String)], key: &str) -> &'a str {
    parsed
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {parsed:?}"))
}

/// The words of a command line as systemd prints it (shell-style: double
/// quotes, backslash escapes inside them).
fn systemd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut quoted) = (false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                word.push(chars.next().unwrap());
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `systemd-analyze verify` of units: it checks every setting and that the
/// executable exists; it must say nothing.
fn assert_systemd_verifies(units: &[PathBuf]) {
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&o.stderr)
    );
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
        stdout(&o).starts_with("installed pipeline-nightly: runs every 6h ("),
        "{}",
        stdout(&o)
    );
    // What each call printed, in order; the first also suggests `init`.
    assert!(
        stderr(&o).starts_with("note: run `pipeline init "),
        "{}",
        stderr(&o)
    );
    let mut said = stdout(&o) + &stderr(&o);
    let o = sb.run(&args);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("unchanged pipeline-nightly:"),
        "{}",
        stdout(&o)
    );
    assert_eq!(stderr(&o), "", "said once, when the entry changes");
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
    let o = sb.run(&args);
    assert!(stdout(&o).starts_with("installed"), "{}", output(&o));
    assert!(
        stderr(&o).contains("systemctl enable --now pipeline-nightly.timer"),
        "what to run next: {}",
        stderr(&o)
    );
    let first = output(&o);
    assert!(stdout(&sb.run(&args)).starts_with("unchanged"));
    let timer = std::fs::read_to_string(units.join("pipeline-nightly.timer")).unwrap();
    let service = std::fs::read_to_string(units.join("pipeline-nightly.service")).unwrap();
    assert!(service.contains(" run /"), "{service}");
    let shown = format!(
        "{first}--- pipeline-nightly.timer\n{timer}--- pipeline-nightly.service\n{service}"
    );
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-systemd", shown));
    assert_systemd_verifies(&[
        units.join("pipeline-nightly.service"),
        units.join("pipeline-nightly.timer"),
    ]);
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
    let _turn = crontab_lock();
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
    assert!(first.starts_with("installed"), "{first}");
    assert!(
        first.contains("added to your crontab") && first.contains("# BEGIN pipeline-nightly\n"),
        "it shows the block it adds: {first}"
    );
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
/// it. `--program` points the entry at a stand-in that records its
/// arguments; every path is in a folder of [`HOSTILE`] characters, and the
/// env file's secret is what a shell would expand: the stand-in gets each
/// path as one argument, `--env-file` to read itself, no secret, and the
/// cache and state directories `schedule` was run with.
#[test]
fn debian_cron_runs_the_installed_entry() {
    let (sb, nightly) = sandbox_with_recipe_in(HOSTILE);
    let dir = nightly.parent().unwrap().to_owned();
    let stand_in = recorder(&dir.join("stand-in pipeline"));
    // A unique recipe name, so the entry cannot clash with a real one.
    let name = format!("crontest{}", std::process::id());
    let recipe = dir.join(format!("{name}.toml"));
    std::fs::copy(&nightly, &recipe).unwrap();
    let env = env_file(
        &dir.join("secrets.env"),
        "PIPELINE_SECRET_TOKEN=$HOME `touch pwned` $(touch pwned) 100%\n",
    );
    let log = dir.join("cron.log");
    let install = sb.run(&[
        "schedule",
        s(&recipe),
        "--every",
        "1m",
        "--program",
        s(&stand_in),
        "--log",
        s(&log),
        "--env-file",
        s(&env),
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
    let fired = loop {
        // The log line comes last: the stand-in has finished then.
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("recorded")) {
            break recorded(&stand_in).expect("the stand-in's record");
        }
        assert!(
            start.elapsed() < Duration::from_secs(130),
            "cron never ran {entry}:\n{}",
            std::fs::read_to_string(&entry).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(
        fired,
        Recorded {
            cwd: dir.clone(),
            args: run_args(Some(&env), &recipe),
            secrets: vec![],
            layout: sandbox_layout(&sb),
        }
    );
    assert_nothing_ran(&[sb.path(), &dir, Path::new("/root")]);
    let _ = repo();
}

/// `schedule` with PIPELINE_CACHE_DIR and PIPELINE_STATE_DIR set (to
/// folders of [`HOSTILE`] characters): each kind of entry carries them, and
/// its command run as cron or systemd would run it (an empty environment
/// plus the entry's own) is a real `pipeline run` that records its name in
/// that state directory (then stops at its template), not under HOME. The
/// first install says `installed`; the `--remove` hint names the directory.
#[test]
fn a_scheduled_run_keeps_the_state_directories_it_was_scheduled_with() {
    let sb = Sandbox::new();
    let root = sb.path().canonicalize().unwrap();
    let recipe = runner_in(&root, "r", None, "{{ no_such_variable }}\n");
    let dirs = root.join(HOSTILE);
    let (cache, state) = (dirs.join("cache"), dirs.join("state"));
    let claim = state.join("recipes/runner.path");
    let log = root.join("run.log");
    let (cron, units) = (root.join("cron.d"), root.join("units"));
    let schedule = |more: &[&str]| {
        let mut args = vec!["schedule", s(&recipe), "--every", "6h", "--log", s(&log)];
        args.extend(more);
        sb.command(&args)
            .env("PIPELINE_CACHE_DIR", &cache)
            .env("PIPELINE_STATE_DIR", &state)
            .output()
            .unwrap()
    };
    // What a run under the entry left: its name recorded in `state`, its
    // error in the log, nothing where HOME would have put it.
    let ran_in_the_given_state = |what: &str, o: &Output| {
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(o));
        assert_eq!(
            std::fs::read_to_string(&claim).unwrap_or_default(),
            format!("{}\n", s(&recipe)),
            "{what}: the run records its name in the state directory it was scheduled with"
        );
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(logged.contains("no_such_variable"), "{what}: {logged}");
        assert!(!root.join(".local").exists() && !root.join(".cache").exists());
        std::fs::remove_file(&claim).unwrap();
        std::fs::remove_file(&log).unwrap();
    };
    let mut shown = String::new();

    // /etc/cron.d.
    let o = schedule(&["--cron-dir", s(&cron)]);
    assert!(
        stdout(&o).starts_with("installed pipeline-runner:"),
        "{}",
        output(&o)
    );
    assert!(!claim.exists(), "schedule itself records nothing");
    let text = std::fs::read_to_string(cron.join("pipeline-runner")).unwrap();
    let o = run_as_cron(cron_command(text.lines().last().unwrap(), 6), &root);
    ran_in_the_given_state("cron.d", &o);
    shown.push_str(&format!("--- cron.d/pipeline-runner\n{text}"));

    // systemd: the Environment= lines as systemd parses them, then the
    // command line with nothing else, as systemd runs a service.
    let o = schedule(&["--systemd", "--unit-dir", s(&units)]);
    assert!(stdout(&o).starts_with("installed"), "{}", output(&o));
    shown.push_str(&format!("--- --systemd\n{}", output(&o)));
    let parsed = systemd_parsed(&sb, &units, "pipeline-runner.service");
    let env: Vec<(String, String)> = parsed
        .iter()
        .filter(|(k, _)| k == "Environment")
        .map(|(_, v)| {
            let (name, value) = v.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect();
    assert_eq!(
        env,
        [
            ("PIPELINE_CACHE_DIR".to_owned(), s(&cache).to_owned()),
            ("PIPELINE_STATE_DIR".to_owned(), s(&state).to_owned()),
        ]
    );
    let words = systemd_words(setting(&parsed, "Command Line"));
    let o = Command::new(&words[0])
        .args(&words[1..])
        .env_clear()
        .envs(env)
        .current_dir(setting(&parsed, "WorkingDirectory"))
        .output()
        .unwrap();
    std::fs::write(&log, [&o.stdout[..], &o.stderr].concat()).unwrap();
    ran_in_the_given_state("systemd", &o);
    let service = std::fs::read_to_string(units.join("pipeline-runner.service")).unwrap();
    shown.push_str(&format!("--- pipeline-runner.service\n{service}"));

    // A user crontab, where no environment line may go (it would apply to
    // every line after it).
    let _turn = crontab_lock();
    let before = crontab();
    let o = schedule(&["--user"]);
    let block = crontab_block(&crontab(), "pipeline-runner");
    set_crontab(&before);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = block.lines().find(|l| !l.starts_with('#')).unwrap();
    let o = run_as_cron(cron_command(line, 5), &root);
    ran_in_the_given_state("crontab", &o);
    assert_nothing_ran(&[sb.path(), &dirs]);
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-state-environment", shown));
}

// --- 1. Values that cron, sh or systemd would read: encoded, or refused.

/// Every path of a cron entry (recipe, its folder, program, log, env file)
/// in a folder of [`HOSTILE`] characters: the command cron runs gives each
/// to the program as one argument, in cron.d and in a user's crontab.
#[test]
fn hostile_paths_reach_the_run_as_one_word_each_from_cron() {
    let (sb, recipe) = sandbox_with_recipe_in(HOSTILE);
    let dir = recipe.parent().unwrap().to_owned();
    let program = recorder(&dir.join("record"));
    let env = env_file(&dir.join("secrets.env"), "PIPELINE_SECRET_TOKEN=x\n");
    let log = dir.join("run.log");
    let cron = sb.path().join("cron.d");
    let args = [
        "schedule",
        s(&recipe),
        "--every",
        "6h",
        "--cron-dir",
        s(&cron),
        "--program",
        s(&program),
        "--log",
        s(&log),
        "--env-file",
        s(&env),
    ];
    let o = sb.run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&sb.run(&args)).starts_with("unchanged"));
    let text = std::fs::read_to_string(cron.join("pipeline-nightly")).unwrap();
    assert!(
        text.lines()
            .any(|l| l == format!("# recipe: {}", s(&recipe))),
        "{text}"
    );
    let o = run_as_cron(cron_command(text.lines().last().unwrap(), 6), sb.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let want = Recorded {
        cwd: dir.clone(),
        args: run_args(Some(&env), &recipe),
        secrets: vec![],
        layout: sandbox_layout(&sb),
    };
    assert_eq!(recorded(&program).unwrap(), want);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "recorded 4\n");
    assert_nothing_ran(&[sb.path(), &dir]);
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-hostile-cron-d", text));

    // The same line in a crontab block.
    let _turn = crontab_lock();
    let original = crontab();
    std::fs::remove_file(format!("{}.out", program.display())).unwrap();
    let user: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--cron-dir") && *a != s(&cron))
        .chain(["--user"])
        .collect();
    let o = sb.run(&user);
    let block = crontab_block(&crontab(), "pipeline-nightly");
    set_crontab(&original);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = block.lines().find(|l| !l.starts_with('#')).unwrap();
    let o = run_as_cron(cron_command(line, 5), sb.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(recorded(&program).unwrap(), want);
    assert_nothing_ran(&[sb.path(), &dir]);
}

/// The same paths in a systemd service: systemd itself (`systemd --test`)
/// reads back the description, the working directory, the log and every
/// word of ExecStart= exactly, and `systemd-analyze verify` finds nothing.
#[test]
fn hostile_paths_parse_as_intended_in_systemd_units() {
    let (sb, recipe) = sandbox_with_recipe_in(HOSTILE);
    let dir = recipe.parent().unwrap().to_owned();
    // systemd refuses quotes and backslashes in an executable (see
    // values_a_format_cannot_carry_are_refused): the program lives elsewhere.
    let program = recorder(&sb.path().canonicalize().unwrap().join("bin $x 100%/record"));
    let env = env_file(&dir.join("secrets.env"), "PIPELINE_SECRET_TOKEN=x\n");
    let log = dir.join("run.log");
    let units = sb.path().join("units");
    let o = sb.run(&[
        "schedule",
        s(&recipe),
        "--every",
        "6h",
        "--systemd",
        "--unit-dir",
        s(&units),
        "--program",
        s(&program),
        "--log",
        s(&log),
        "--env-file",
        s(&env),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let service = units.join("pipeline-nightly.service");
    assert_systemd_verifies(&[service.clone(), units.join("pipeline-nightly.timer")]);
    let parsed = systemd_parsed(&sb, &units, "pipeline-nightly.service");
    assert_eq!(
        setting(&parsed, "Description"),
        format!("pipeline run {}", s(&recipe))
    );
    assert_eq!(setting(&parsed, "WorkingDirectory"), s(&dir));
    assert_eq!(setting(&parsed, "StandardOutputFileToAppend"), s(&log));
    assert_eq!(setting(&parsed, "StandardErrorFileToAppend"), s(&log));
    let mut want = vec![s(&program).to_owned()];
    want.extend(run_args(Some(&env), &recipe));
    assert_eq!(systemd_words(setting(&parsed, "Command Line")), want);
    let text = std::fs::read_to_string(&service).unwrap();
    assert!(
        text.contains("\nExecStart=:"),
        "no $VAR expansion (the `:` prefix): {text}"
    );
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-hostile-systemd", text));
}

/// Newlines and other control characters are refused in every format, and
/// what one format cannot carry is refused there only; exit code 2 and
/// nothing written (not even the log's directory).
#[test]
fn values_a_format_cannot_carry_are_refused() {
    struct Case {
        what: &'static str,
        folder: &'static str,
        flags: Vec<String>,
        accepted: bool,
    }
    let case = |what, folder, flags: &[&str], accepted| Case {
        what,
        folder,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        accepted,
    };
    let tab_env = "sec\tret.env";
    let long_log = format!("{}/run.log", vec!["x".repeat(250); 4].join("/"));
    let cases = [
        case(
            "a newline in the recipe's path, to cron.d",
            "evil\n* * * * * root touch pwned\n",
            &[],
            false,
        ),
        case(
            "the same, to a user crontab",
            "evil\n* * * * * root touch pwned\n",
            &["--user"],
            false,
        ),
        case(
            "the same, to systemd",
            "evil\n[Service]\nExecStartPre=/bin/touch pwned\n",
            &["--systemd"],
            false,
        ),
        case(
            "an escape character in the log path",
            "ok",
            &["--log", "logs/run\u{1b}[31m.log"],
            false,
        ),
        case(
            "a tab in the env file's path, to systemd",
            "ok",
            &["--env-file", tab_env, "--systemd"],
            false,
        ),
        case(
            "a folder that ends with a space, to systemd",
            "trailing ",
            &["--systemd"],
            false,
        ),
        case("the same, to cron.d (it quotes it)", "trailing ", &[], true),
        case(
            "a log path that ends with a backslash, to systemd",
            "ok",
            &["--log", r"logs/run.log\", "--systemd"],
            false,
        ),
        case(
            "the same, to cron.d",
            "ok",
            &["--log", r"logs/run.log\"],
            true,
        ),
        case(
            "a quote in the program's path, to systemd",
            "ok",
            &["--program", "it's/record", "--systemd"],
            false,
        ),
        case(
            "the same, to cron.d",
            "ok",
            &["--program", "it's/record"],
            true,
        ),
        case(
            "a cron command longer than cron reads",
            "ok",
            &["--log", &long_log],
            false,
        ),
        case(
            "the same, to systemd",
            "ok",
            &["--log", &long_log, "--systemd"],
            true,
        ),
    ];
    let mut shown = String::new();
    for case in &cases {
        let (sb, recipe) = sandbox_with_recipe_in(case.folder);
        recorder(&sb.path().join("it's/record"));
        env_file(&sb.path().join(tab_env), "PIPELINE_SECRET_TOKEN=x\n");
        let (cron, units) = (sb.path().join("cron.d"), sb.path().join("units"));
        let mut args = vec![
            "schedule".to_owned(),
            s(&recipe).to_owned(),
            "--every".to_owned(),
            "6h".to_owned(),
            "--cron-dir".to_owned(),
            s(&cron).to_owned(),
            "--unit-dir".to_owned(),
            s(&units).to_owned(),
        ];
        if !case.flags.iter().any(|f| f == "--log") {
            args.extend(["--log".to_owned(), "logs/run.log".to_owned()]);
        }
        args.extend(case.flags.iter().cloned());
        let user = case.flags.iter().any(|f| f == "--user");
        let _turn = user.then(crontab_lock);
        let before = user.then(crontab);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = sb.run(&args);
        if case.accepted {
            assert!(o.status.success(), "{}: {}", case.what, stderr(&o));
            continue;
        }
        assert_eq!(o.status.code(), Some(2), "{}: {}", case.what, stderr(&o));
        assert!(!cron.exists() && !units.exists(), "{}: written", case.what);
        assert!(!sb.path().join("logs").exists(), "{}", case.what);
        if let Some(before) = before {
            assert_eq!(crontab(), before, "{}", case.what);
        }
        assert_nothing_ran(&[sb.path(), recipe.parent().unwrap()]);
        shown.push_str(&format!("--- {}\n{}", case.what, output(&o)));
    }
    let mut settings = schedule_redacted();
    settings.add_filter(&"x".repeat(250), "[250 x]");
    // The length counts the checkout's path (the program's).
    settings.add_filter(r"would be \d+ bytes long", "would be [N] bytes long");
    settings.bind(|| insta::assert_snapshot!("schedule-refused-values", shown));
}

// --- 2. The env file: read by `pipeline run` itself, never by a shell.

/// A secret that a shell would expand, or run.
const SECRET: &str = r#"$HOME `touch pwned` $(touch pwned) "dq" 'sq' \ 100% ;"#;

/// The entry passes the env file to `pipeline run --env-file`, which reads
/// it literally: the program gets no variable from cron or systemd, nothing
/// of the value is run, and what `pipeline run` reads from the file is the
/// secret, exactly.
#[test]
fn secrets_in_the_env_file_reach_the_run_literally() {
    let sb = sandbox_with_recipe();
    let root = sb.path().canonicalize().unwrap();
    let recipe = root.join("nightly.toml");
    let env = env_file(
        &root.join("runner.env"),
        &format!("# the runner's token\nPIPELINE_SECRET_TOKEN={SECRET}\n"),
    );
    let program = recorder(&root.join("record"));
    let (cron, units) = (root.join("cron.d"), root.join("units"));
    let base = [
        "schedule",
        "nightly.toml",
        "--every",
        "1h",
        "--program",
        s(&program),
        "--log",
        "run.log",
        "--env-file",
        "runner.env",
    ];
    let o = sb.run(&[&base[..], &["--cron-dir", s(&cron)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(cron.join("pipeline-nightly")).unwrap();
    assert!(!text.contains("TOKEN") && !text.contains(". '"), "{text}");
    let o = run_as_cron(cron_command(text.lines().last().unwrap(), 6), &root);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = recorded(&program).unwrap();
    assert_eq!(
        got,
        Recorded {
            cwd: root.clone(),
            args: run_args(Some(&env), &recipe),
            secrets: vec![],
            layout: sandbox_layout(&sb),
        }
    );
    assert_nothing_ran(&[&root]);
    // What `pipeline run --env-file` reads from the file it was given.
    let read = pipeline::loader::env_file(camino::Utf8Path::new(&got.args[2])).unwrap();
    assert_eq!(
        read,
        [("PIPELINE_SECRET_TOKEN".to_owned(), SECRET.to_owned())]
    );

    let o = sb.run(&[&base[..], &["--systemd", "--unit-dir", s(&units)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let service = std::fs::read_to_string(units.join("pipeline-nightly.service")).unwrap();
    // Only where state lives is set there; the secrets stay in the file.
    assert!(
        !service.contains("EnvironmentFile") && !service.contains("TOKEN"),
        "{service}"
    );
    let parsed = systemd_parsed(&sb, &units, "pipeline-nightly.service");
    let mut want = vec![s(&program).to_owned()];
    want.extend(run_args(Some(&env), &recipe));
    assert_eq!(systemd_words(setting(&parsed, "Command Line")), want);
}

/// An env file that is missing, not a file, readable or writable by others,
/// owned by someone else, or not `NAME=value` lines is refused with why and
/// the fix; exit code 2 and nothing written.
#[test]
fn env_files_others_could_read_or_change_are_refused() {
    let sb = sandbox_with_recipe();
    let cron = sb.path().join("cron.d");
    let units = sb.path().join("units");
    let good = env_file(&sb.path().join("good.env"), "PIPELINE_SECRET_A=1\n");
    let wide = env_file(&sb.path().join("wide.env"), "PIPELINE_SECRET_A=1\n");
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
    let group = env_file(&sb.path().join("group.env"), "PIPELINE_SECRET_A=1\n");
    std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o620)).unwrap();
    let nobodys = env_file(&sb.path().join("nobodys.env"), "PIPELINE_SECRET_A=1\n");
    rustix::fs::chown(&nobodys, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
    env_file(
        &sb.path().join("bad.env"),
        "PIPELINE_SECRET_A=1\nexport PIPELINE_SECRET_B=2\n",
    );
    std::fs::create_dir(sb.path().join("dir.env")).unwrap();
    let schedule = |env: &str, more: &[&str]| {
        let mut args = vec![
            "schedule",
            "nightly.toml",
            "--every",
            "6h",
            "--cron-dir",
            s(&cron),
            "--unit-dir",
            s(&units),
            "--log",
            "logs/run.log",
            "--env-file",
            env,
        ];
        args.extend(more);
        sb.run(&args)
    };
    let mut shown = String::new();
    for (env, more) in [
        ("missing.env", &[][..]),
        ("dir.env", &[]),
        ("wide.env", &[]),
        ("group.env", &["--systemd"]),
        ("nobodys.env", &[]),
        ("nobodys.env", &["--systemd"]),
        ("bad.env", &[]),
    ] {
        let o = schedule(env, more);
        assert_eq!(o.status.code(), Some(2), "{env}: {}", stderr(&o));
        assert!(!cron.exists() && !units.exists(), "{env}");
        assert!(!sb.path().join("logs").exists(), "{env}");
        shown.push_str(&format!(
            "--- {}\n{}",
            [&[env], more].concat().join(" "),
            output(&o)
        ));
    }
    let _turn = crontab_lock();
    let before = crontab();
    let o = schedule("nobodys.env", &["--user"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(crontab(), before);
    shown.push_str(&format!("--- nobodys.env --user\n{}", output(&o)));
    drop(_turn);

    let o = schedule(s(&good), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-refused-env-files", shown));
}

// --- 3. One entry per recipe.

/// `prod/runner.toml` and `staging/runner.toml`: one name, `runner`, so one
/// entry name. The second is refused (naming both paths and the fix) rather
/// than replacing the first, in every kind of entry; `--remove` of the
/// other recipe removes nothing.
#[test]
fn two_recipes_with_one_name_do_not_share_an_entry() {
    let sb = Sandbox::new();
    let root = sb.path().canonicalize().unwrap();
    for env in ["prod", "staging"] {
        let r = Recipe::new("runner", "runner", "#!/bin/sh\necho ok\n")
            .base("tiny.qcow2", &"0".repeat(64));
        std::fs::create_dir(root.join(env)).unwrap();
        std::fs::write(root.join(env).join("runner.toml"), r.toml()).unwrap();
        std::fs::write(root.join(env).join("runner.sh.tera"), "#!/bin/sh\n").unwrap();
    }
    let (cron, units) = (root.join("cron.d"), root.join("units"));
    let entry = cron.join("pipeline-runner");
    let schedule = |recipe: &str, more: &[&str]| {
        let mut args = vec![
            "schedule",
            recipe,
            "--cron-dir",
            s(&cron),
            "--unit-dir",
            s(&units),
            "--log",
            "run.log",
        ];
        args.extend(more);
        sb.run(&args)
    };
    let every = ["--every", "6h"];
    let mut shown = String::new();
    let mut step = |what: &str, o: &Output| shown.push_str(&format!("--- {what}\n{}", output(o)));

    let o = schedule("prod/runner.toml", &every);
    assert!(o.status.success(), "{}", stderr(&o));
    let prod = std::fs::read_to_string(&entry).unwrap();
    let o = schedule("staging/runner.toml", &every);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&entry).unwrap(), prod);
    step("staging, while prod is scheduled", &o);
    let o = schedule("prod/runner.toml", &every);
    assert!(stdout(&o).starts_with("unchanged"), "{}", stdout(&o));
    let o = schedule("staging/runner.toml", &["--remove"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&entry).unwrap(), prod);
    step("staging --remove", &o);

    // systemd units.
    let systemd = [&every[..], &["--systemd"]].concat();
    assert!(schedule("prod/runner.toml", &systemd).status.success());
    let service = std::fs::read_to_string(units.join("pipeline-runner.service")).unwrap();
    let o = schedule("staging/runner.toml", &systemd);
    assert_eq!(o.status.code(), Some(2));
    let now = std::fs::read_to_string(units.join("pipeline-runner.service")).unwrap();
    assert_eq!(now, service);
    step("staging --systemd", &o);

    // An entry of the version before the `# recipe:` line is still known.
    std::fs::write(
        &entry,
        format!(
            "# pipeline-runner: runs `pipeline run {p}` every 6h.\n# Installed by `pipeline schedule`; remove it with `pipeline schedule {p} --remove`.\n17 */6 * * * root true\n",
            p = s(&root.join("staging/runner.toml"))
        ),
    )
    .unwrap();
    let o = schedule("prod/runner.toml", &every);
    assert_eq!(o.status.code(), Some(2));
    step("prod, while an old entry schedules staging", &o);
    let o = schedule("staging/runner.toml", &every);
    assert!(stdout(&o).starts_with("changed"), "{}", stderr(&o));
    // A file pipeline did not write is left alone.
    std::fs::write(&entry, "17 */6 * * * root true\n").unwrap();
    let o = schedule("prod/runner.toml", &every);
    assert_eq!(o.status.code(), Some(2));
    step("prod, over a file of someone else's", &o);
    std::fs::remove_file(&entry).unwrap();

    // The same recipe under another name (a renamed recipe): said, not refused.
    let old = cron.join("pipeline-runner-old");
    std::fs::write(
        &old,
        format!("# recipe: {}\n", s(&root.join("prod/runner.toml"))),
    )
    .unwrap();
    let o = schedule("prod/runner.toml", &every);
    assert!(o.status.success(), "{}", stderr(&o));
    step("prod, also scheduled under another name", &o);
    std::fs::remove_file(&old).unwrap();
    let o = schedule("prod/runner.toml", &["--remove"]);
    assert!(stdout(&o).starts_with("changed pipeline-runner: removed"));

    // A user crontab.
    let _turn = crontab_lock();
    let before = crontab();
    let user = [&every[..], &["--user"]].concat();
    let first = schedule("prod/runner.toml", &user);
    let second = schedule("staging/runner.toml", &user);
    let block = crontab_block(&crontab(), "pipeline-runner");
    let removed = schedule("prod/runner.toml", &["--remove", "--user"]);
    let after = crontab();
    set_crontab(&before);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(2));
    assert!(block.contains("/prod/runner.toml\n"), "{block}");
    assert!(stdout(&removed).starts_with("changed"));
    assert_eq!(after, before);
    step("staging --user", &second);
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-one-entry-per-recipe", shown));
}

/// `--remove` of a recipe that no longer loads (broken, or deleted) finds
/// its entry by the file stem.
#[test]
fn a_recipe_that_no_longer_loads_can_be_unscheduled() {
    let sb = sandbox_with_recipe();
    let cron = sb.path().join("cron.d");
    let units = sb.path().join("units");
    let valid = std::fs::read_to_string(sb.path().join("nightly.toml")).unwrap();
    for kind in [&[][..], &["--systemd"]] {
        let run = |more: &[&str]| {
            let mut a = vec![
                "schedule",
                "nightly.toml",
                "--cron-dir",
                s(&cron),
                "--unit-dir",
                s(&units),
                "--log",
                "run.log",
            ];
            a.extend_from_slice(kind);
            a.extend_from_slice(more);
            sb.run(&a)
        };
        for breakage in ["[image\nbroken", ""] {
            std::fs::write(sb.path().join("nightly.toml"), &valid).unwrap();
            let o = run(&["--every", "6h"]);
            assert!(o.status.success(), "{}", stderr(&o));
            if breakage.is_empty() {
                std::fs::remove_file(sb.path().join("nightly.toml")).unwrap();
            } else {
                std::fs::write(sb.path().join("nightly.toml"), breakage).unwrap();
            }
            let o = run(&["--remove"]);
            assert_eq!(
                stdout(&o),
                "changed pipeline-nightly: removed\n",
                "{kind:?} {breakage:?}: {}",
                stderr(&o)
            );
            assert!(sb.entries("cron.d").is_empty() && sb.entries("units").is_empty());
        }
    }
}

/// `<folder>/runner.toml` (with its template) under `root`, with a `name`
/// of its own if given; its one directory target is `../images`, shared by
/// every such recipe, as one cloud would be. Its canonical path.
fn runner_in(root: &Path, folder: &str, name: Option<&str>, template: &str) -> PathBuf {
    let recipe = Recipe::new("runner", "runner", template)
        .base("tiny.qcow2", &"0".repeat(64))
        .targets(vec![Target::directory("shared", "../images", 2)]);
    let name = name.map_or_else(String::new, |n| format!("name = \"{n}\"\n\n"));
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("runner.toml"), name + &recipe.toml()).unwrap();
    std::fs::write(dir.join("runner.sh.tera"), template).unwrap();
    dir.canonicalize().unwrap().join("runner.toml")
}

/// Revisions 1..=count of `image` in the directory store `store`, owned by
/// `owner`, as a directory target writes them.
fn stored_revisions(store: &Path, image: &str, owner: &str, count: u64) {
    let dir = store.join(image);
    std::fs::create_dir_all(&dir).unwrap();
    for n in 1..=count {
        let meta = serde_json::json!({
            "id": format!("{image}/{n}"),
            "created_at": format!("2026-01-0{n}T00:00:00Z"),
            "number": n,
            "meta": {
                "name": image,
                "owner": owner,
                "arch": "x64",
                "base": "tiny",
                "cell": { "base": "tiny" },
                "sha256": "0".repeat(64),
                "size": 0,
                "recipe_hash": "0".repeat(64),
            },
        });
        std::fs::write(dir.join(format!("{n}.json")), meta.to_string()).unwrap();
        std::fs::write(dir.join(format!("{n}.qcow2")), "").unwrap();
    }
}

/// Images carry the owner mark `pipeline:<name>`: with one name,
/// `staging/runner.toml`'s prune would delete `prod/runner.toml`'s images.
/// The first `run` or `prune` of a name records its recipe file in the
/// state directory (a run that then fails fast too: its template does not
/// render, so nothing boots); another file of that name is refused by
/// `run`, `prune` (dry or not) and `schedule`, naming both and the fix, and
/// deletes nothing. A `name` of its own lets it through. Identity follows a
/// checkout: a second clone of prod (the same content) is prod, and once
/// the recorded file is gone (prod moved) the name is handed over, said in
/// one line.
#[test]
fn runs_and_prunes_of_two_recipes_with_one_name_are_refused_too() {
    let sb = Sandbox::new();
    let root = sb.path().canonicalize().unwrap();
    let fails = "{{ no_such_variable }}\n";
    let prod = runner_in(&root, "prod", None, fails);
    let staging = runner_in(&root, "staging", None, fails);
    // staging is another recipe: it differs from prod (its cloud, say).
    let text = std::fs::read_to_string(&staging).unwrap();
    std::fs::write(&staging, format!("# staging\n{text}")).unwrap();
    stored_revisions(
        &root.join("images"),
        "runner-tiny-x64",
        "pipeline:runner",
        3,
    );
    let revisions = || sb.revisions("images", "runner-tiny-x64");
    let claim = root.join("state/recipes/runner.path");
    let cron = root.join("cron.d");
    let mut shown = String::new();
    let mut step = |what: &str, o: &Output| shown.push_str(&format!("--- {what}\n{}", output(o)));

    // A dry run claims nothing.
    let o = sb.run(&["prune", "--dry-run", "prod/runner.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!claim.exists());
    // prod's run claims the name, then stops at its template.
    let o = sb.run(&["run", "prod/runner.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no_such_variable"), "{}", stderr(&o));
    assert!(sb.entries("state/runs").is_empty(), "nothing ran");
    assert_eq!(
        std::fs::read_to_string(&claim).unwrap(),
        format!("{}\n", s(&prod))
    );

    let refused: [&[&str]; 4] = [
        &["run", "staging/runner.toml"],
        &["prune", "staging/runner.toml"],
        &["prune", "--dry-run", "staging/runner.toml"],
        &[
            "schedule",
            "staging/runner.toml",
            "--every",
            "6h",
            "--cron-dir",
            s(&cron),
        ],
    ];
    for args in refused {
        let o = sb.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
        let shown: Vec<&str> = args
            .iter()
            .copied()
            .take_while(|a| *a != "--every")
            .collect();
        step(&shown.join(" "), &o);
    }
    assert_eq!(
        revisions(),
        [1, 2, 3],
        "staging deleted none of prod's images"
    );
    assert!(!cron.exists() && sb.entries("state/runs").is_empty());
    assert_eq!(
        std::fs::read_to_string(&claim).unwrap(),
        format!("{}\n", s(&prod))
    );

    // prod's own prune keeps 2.
    let o = sb.run(&["prune", "prod/runner.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(revisions(), [2, 3]);

    // staging with a name of its own: its own claim, and none of prod's images.
    runner_in(&root, "staging", Some("staging-runner"), fails);
    let o = sb.run(&["prune", "staging/runner.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "deleted 0 revisions\n");
    assert_eq!(revisions(), [2, 3]);
    assert_eq!(
        std::fs::read_to_string(root.join("state/recipes/staging-runner.path")).unwrap(),
        format!("{}\n", s(&staging))
    );

    // A second clone of prod (a CI workspace): the same recipe, for every
    // command; the name stays recorded for prod.
    let clone = runner_in(&root, "prod@2", None, fails);
    for args in [
        &["prune", "prod@2/runner.toml"][..],
        &["run", "prod@2/runner.toml"],
        &[
            "schedule",
            s(&clone),
            "--every",
            "6h",
            "--cron-dir",
            s(&cron),
        ],
    ] {
        let o = sb.run(args);
        assert!(
            !stderr(&o).contains("belongs to"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(revisions(), [2, 3], "the clone's prune kept prod's 2");
    assert_eq!(
        std::fs::read_to_string(&claim).unwrap(),
        format!("{}\n", s(&prod))
    );
    std::fs::remove_dir_all(&cron).unwrap();

    // prod moves (and its clone goes): the name is handed over, in one
    // line, once; a dry run only says it would be.
    let live = runner_in(&root, "live", None, fails);
    std::fs::remove_dir_all(root.join("prod")).unwrap();
    std::fs::remove_dir_all(root.join("prod@2")).unwrap();
    let o = sb.run(&["prune", "--dry-run", "live/runner.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    step(
        "prune --dry-run live/runner.toml, after prod/runner.toml moved there",
        &o,
    );
    let o = sb.run(&["prune", "live/runner.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    step("prune live/runner.toml", &o);
    assert_eq!(
        std::fs::read_to_string(&claim).unwrap(),
        format!("{}\n", s(&live))
    );
    let o = sb.run(&["prune", "live/runner.toml"]);
    assert_eq!(stderr(&o), "deleted 0 revisions\n", "said once");
    assert_eq!(
        sb.entries("state/recipes"),
        ["runner.path", "staging-runner.path"]
    );
    schedule_redacted().bind(|| insta::assert_snapshot!("schedule-one-name-per-recipe", shown));
}

/// With `name = "staging-runner"`, `staging/runner.toml` gets its own entry
/// beside `prod/runner.toml`'s, and `--remove` finds it by the path it
/// records even once the recipe no longer loads (its stem would not).
#[test]
fn a_recipe_with_a_name_of_its_own_gets_its_own_entry() {
    let sb = Sandbox::new();
    let root = sb.path().canonicalize().unwrap();
    let prod = runner_in(&root, "prod", None, "#!/bin/sh\n");
    let staging = runner_in(&root, "staging", Some("staging-runner"), "#!/bin/sh\n");
    let cron = root.join("cron.d");
    let schedule = |recipe: &str, more: &[&str]| {
        let mut args = vec![
            "schedule",
            recipe,
            "--cron-dir",
            s(&cron),
            "--log",
            "run.log",
        ];
        args.extend(more);
        sb.run(&args)
    };
    for recipe in ["prod/runner.toml", "staging/runner.toml"] {
        let o = schedule(recipe, &["--every", "6h"]);
        assert!(o.status.success(), "{recipe}: {}", stderr(&o));
    }
    assert_eq!(
        sb.entries("cron.d"),
        ["pipeline-runner", "pipeline-staging-runner"]
    );
    for (entry, recipe) in [
        ("pipeline-runner", &prod),
        ("pipeline-staging-runner", &staging),
    ] {
        let text = std::fs::read_to_string(cron.join(entry)).unwrap();
        assert!(
            text.lines()
                .any(|l| l == format!("# recipe: {}", s(recipe))),
            "{text}"
        );
    }
    std::fs::write(&staging, "name = [broken\n").unwrap();
    let o = schedule("staging/runner.toml", &["--remove"]);
    assert_eq!(
        stdout(&o),
        "changed pipeline-staging-runner: removed\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(sb.entries("cron.d"), ["pipeline-runner"]);
}

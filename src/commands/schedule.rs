use crate::cli::ScheduleArgs;
use crate::cli::{Error, Result};
use crate::schedule::env_file::{self, Owner};
use crate::schedule::{
    Entry, Interval, Kind, ScheduleError, absolute, crontab_block_of, edit_crontab,
    scheduled_recipe, sh_word, unit_name,
};
use crate::state::{Layout, ensure_dir};
use camino::{Utf8Path, Utf8PathBuf};
use std::io::Write;
use std::process::{Command, Stdio};

pub fn schedule(args: &ScheduleArgs) -> Result<()> {
    let recipe_path = absolute(&args.recipe);
    if args.remove {
        // The entry is named from the recipe's name; a recipe that no
        // longer loads can still be unscheduled: by the entry that records
        // its path, else by its file stem.
        let (recipe_name, name) = match crate::loader::load(&args.recipe) {
            Ok(recipe) => (recipe.name.clone(), unit_name(&recipe.name)),
            Err(_) => {
                let stem = recipe_path.file_stem().unwrap_or("recipe").to_owned();
                let name = installed_entries(args)
                    .into_iter()
                    .find(|(_, _, r)| *r == recipe_path)
                    .map_or_else(|| unit_name(&stem), |(name, _, _)| name);
                (stem, name)
            }
        };
        let place = Place::of(args, &name);
        if let Some(installed) = place.installed()? {
            check_identity(
                &place,
                &installed,
                &recipe_path,
                &name,
                &recipe_name,
                true,
                place_dir(args).as_deref(),
            )
            .map_err(usage)?;
        }
        let removed = remove(args, &place)?;
        report(
            if removed { "changed" } else { "unchanged" },
            &name,
            "removed",
        );
        return Ok(());
    }
    // A schedule of a broken recipe would fail every few hours: check it now.
    let recipe = crate::loader::load(&args.recipe)?;
    // The runs would refuse a name that another recipe file owns here.
    crate::state::name_claim::claim(&Layout::from_env(), &recipe, false)?;
    let name = unit_name(&recipe.name);
    let every = args
        .every
        .clone()
        .expect("clap requires --every without --remove");
    let seed = u64::from_str_radix(
        &crate::files::digest::sha256_bytes(recipe_path.as_str().as_bytes())[..12],
        16,
    )
    .expect("hex");
    let interval = Interval::parse(&every, seed).map_err(usage)?;
    let program = match &args.program {
        Some(p) => {
            let program = absolute(p);
            if !program.is_file() {
                return Err(Error::Usage(format!(
                    "--program `{p}`: no such file; nothing was written"
                )));
            }
            program
        }
        None => std::env::current_exe()
            .ok()
            .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
            .ok_or_else(|| Error::Failed("failed to find the path of this executable".into()))?,
    };
    // The runs keep their cache and state where this command finds them
    // (and the `init` before it did), not where cron's HOME would put them.
    let layout = Layout::from_env();
    let layout = Layout {
        cache: absolute(&layout.cache),
        state: absolute(&layout.state),
    };
    let log = match &args.log {
        Some(l) => absolute(l),
        None if args.user => layout.state.join("logs").join(format!("{name}.log")),
        None => Utf8PathBuf::from("/var/log/pipeline").join(format!("{name}.log")),
    };
    if log.file_name().is_none() || log.is_dir() {
        return Err(Error::Usage(format!(
            "--log `{log}` is not a file path; nothing was written"
        )));
    }
    let env_file = match &args.env_file {
        Some(path) => {
            let path = absolute(path);
            env_file::check(&path, &run_owner(args)).map_err(usage)?;
            Some(path)
        }
        None => None,
    };
    let entry = Entry {
        name: name.clone(),
        program,
        recipe: recipe_path.clone(),
        workdir: recipe.dir.clone(),
        log,
        env_file,
        interval,
        every,
        layout,
        dir: place_dir(args),
    };
    let place = Place::of(args, &name);
    // Everything is rendered (or refused) and checked before anything is written.
    let files = place.render(&entry).map_err(usage)?;
    let installed = place.installed()?;
    if let Some(installed) = &installed {
        check_identity(
            &place,
            installed,
            &recipe_path,
            &name,
            &recipe.name,
            false,
            None,
        )
        .map_err(usage)?;
    }
    warn_of_other_names(args, &name, &recipe_path);
    if let Some(dir) = entry.log.parent() {
        ensure_dir(dir).map_err(|e| Error::Failed(e.to_string()))?;
    }
    let changed = match &place {
        Place::CronD { file } => write_if_changed(file, &files[0], 0o644)?,
        Place::Crontab { .. } => install_crontab(&entry.name, &files[0])?,
        Place::Systemd { service, timer } => install_systemd(
            args,
            &entry.name,
            [(service, &files[0]), (timer, &files[1])],
        )?,
    };
    let outcome = match (&installed, changed) {
        (_, false) => "unchanged",
        (None, true) => "installed",
        (Some(_), true) => "changed",
    };
    report(
        outcome,
        &name,
        &format!("runs every {} ({})", entry.every, entry.interval.cron()),
    );
    if changed {
        match &place {
            Place::Crontab { .. } => crate::outln!(
                "added to your crontab (`crontab -l` lists it):\n{}",
                files[0].trim_end()
            ),
            Place::Systemd { .. } if !default_unit_dir(args) => crate::errln!(
                "note: the units are in {dir}, where pipeline does not start them: once systemd reads that directory, run `systemctl daemon-reload` and `systemctl enable --now {name}.timer`",
                dir = args.unit_dir
            ),
            _ => {}
        }
        // What a run needs (firmware, bases, credentials) is checked by
        // init; otherwise the first scheduled run finds out, unattended.
        crate::errln!(
            "note: run `pipeline init {}` once, as the user the runs run as, to check and prepare what they need now",
            sh_word(recipe_path.as_str())
        );
    }
    Ok(())
}

/// A value `schedule` refuses is a usage error (exit code 2).
fn usage(e: ScheduleError) -> Error {
    Error::Usage(e.to_string())
}

/// Where the entry of a name goes.
enum Place {
    CronD {
        file: Utf8PathBuf,
    },
    Crontab {
        name: String,
    },
    Systemd {
        service: Utf8PathBuf,
        timer: Utf8PathBuf,
    },
}

impl Place {
    fn of(args: &ScheduleArgs, name: &str) -> Place {
        if args.systemd {
            Place::Systemd {
                service: args.unit_dir.join(format!("{name}.service")),
                timer: args.unit_dir.join(format!("{name}.timer")),
            }
        } else if args.user {
            Place::Crontab {
                name: name.to_owned(),
            }
        } else {
            Place::CronD {
                file: args.cron_dir.join(name),
            }
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Place::CronD { .. } => Kind::CronD,
            Place::Crontab { .. } => Kind::Crontab,
            Place::Systemd { .. } => Kind::Systemd,
        }
    }

    /// The files' texts (cron.d file, crontab block, or service and timer),
    /// or why a value cannot be written there.
    fn render(&self, entry: &Entry) -> Result<Vec<String>, ScheduleError> {
        Ok(match self {
            Place::CronD { .. } => vec![entry.cron_d(&current_user())?],
            Place::Crontab { .. } => vec![entry.crontab_block()?],
            Place::Systemd { .. } => vec![entry.systemd_service()?, entry.systemd_timer()?],
        })
    }

    /// What is installed under the name now: the file's (the service's,
    /// else the timer's) or the crontab block's text.
    fn installed(&self) -> Result<Option<String>> {
        let read = |path: &Utf8Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Failed(format!("failed to read {path}: {e}"))),
        };
        match self {
            Place::CronD { file } => read(file),
            Place::Crontab { name } => Ok(crontab_block_of(&read_crontab()?, name)),
            Place::Systemd { service, timer } => match read(service)? {
                Some(text) => Ok(Some(text)),
                None => read(timer),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::CronD { file } => file.to_string(),
            Place::Crontab { name } => format!("the block `{name}` of your crontab"),
            Place::Systemd { service, .. } => service.to_string(),
        }
    }
}

/// An entry of this name that schedules another recipe is not ours to
/// replace or remove: two recipes with one name would share one entry.
fn check_identity(
    place: &Place,
    installed: &str,
    recipe: &Utf8Path,
    name: &str,
    recipe_name: &str,
    removing: bool,
    dir: Option<&Utf8Path>,
) -> Result<(), ScheduleError> {
    match scheduled_recipe(installed) {
        Some(other) if other == recipe => Ok(()),
        Some(other) if removing => Err(ScheduleError::NotItsEntry {
            name: name.to_owned(),
            other,
            recipe: recipe.to_owned(),
            flags: place.kind().remove_flags(dir),
        }),
        Some(other) => Err(ScheduleError::NameTaken {
            name: name.to_owned(),
            other,
            recipe: recipe.to_owned(),
            recipe_name: recipe_name.to_owned(),
            suggested: crate::state::name_claim::suggested_name(recipe, recipe_name),
        }),
        None => Err(ScheduleError::NotOurs {
            place: place.describe(),
            removing,
        }),
    }
}

/// Every entry of `pipeline schedule` where `args` point (the cron
/// directory, your crontab or the unit directory), sorted: its name, where
/// it is (for messages) and the recipe it schedules.
fn installed_entries(args: &ScheduleArgs) -> Vec<(String, String, Utf8PathBuf)> {
    let mut entries = Vec::new();
    if args.user {
        let crontab = read_crontab().unwrap_or_default();
        for line in crontab.lines() {
            if let Some(name) = line.strip_prefix("# BEGIN ")
                && name.starts_with("pipeline-")
                && let Some(recipe) =
                    crontab_block_of(&crontab, name).and_then(|b| scheduled_recipe(&b))
            {
                entries.push((
                    name.to_owned(),
                    format!("the block `{name}` of your crontab"),
                    recipe,
                ));
            }
        }
    } else {
        let (dir, suffix) = if args.systemd {
            (&args.unit_dir, ".service")
        } else {
            (&args.cron_dir, "")
        };
        for entry in dir.read_dir_utf8().into_iter().flatten().flatten() {
            let file = entry.file_name();
            // cron.d entries have no dot; a unit is known by its service.
            let Some(name) = file.strip_suffix(suffix) else {
                continue;
            };
            if !name.starts_with("pipeline-") || name.contains('.') {
                continue;
            }
            if let Some(recipe) = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| scheduled_recipe(&t))
            {
                entries.push((name.to_owned(), entry.path().to_string(), recipe));
            }
        }
    }
    entries.sort();
    entries
}

/// A recipe whose name changed (its file, or its `name`) is still scheduled
/// under the old one: say so, since both entries would run it.
fn warn_of_other_names(args: &ScheduleArgs, name: &str, recipe: &Utf8Path) {
    for (_, place, _) in installed_entries(args)
        .into_iter()
        .filter(|(other, _, r)| other != name && r == recipe)
    {
        crate::errln!(
            "warning: {place} schedules {recipe} too, under another name: remove it, or the recipe runs twice"
        );
    }
}

/// The user the scheduled runs run as, who must own the env file: root for
/// systemd units (no `User=`), else the user of the cron line or crontab.
fn run_owner(args: &ScheduleArgs) -> Owner {
    if args.systemd {
        Owner {
            uid: 0,
            name: "root".into(),
        }
    } else {
        Owner {
            uid: rustix::process::getuid().as_raw(),
            name: current_user(),
        }
    }
}

/// `installed`, `changed` or `unchanged`, the entry's name and what it does.
fn report(outcome: &str, name: &str, what: &str) {
    crate::outln!("{outcome} {name}: {what}");
}

/// The `--cron-dir` or `--unit-dir` the entry goes to, absolute, when it is
/// not the default: `--remove` needs it to find the entry.
fn place_dir(args: &ScheduleArgs) -> Option<Utf8PathBuf> {
    let (dir, default) = if args.systemd {
        (&args.unit_dir, "/etc/systemd/system")
    } else if args.user {
        return None;
    } else {
        (&args.cron_dir, "/etc/cron.d")
    };
    let dir = absolute(dir);
    (dir != default).then_some(dir)
}

fn remove(args: &ScheduleArgs, place: &Place) -> Result<bool> {
    match place {
        Place::Systemd { service, timer } => {
            let mut changed = false;
            for path in [timer, service] {
                if path.exists() {
                    if default_unit_dir(args) {
                        let unit = path.file_name().unwrap_or_default();
                        let _ = Command::new("systemctl")
                            .args(["disable", "--now", unit])
                            .status();
                    }
                    std::fs::remove_file(path)
                        .map_err(|e| Error::Failed(format!("failed to remove {path}: {e}")))?;
                    changed = true;
                }
            }
            if changed && default_unit_dir(args) {
                let _ = Command::new("systemctl").arg("daemon-reload").status();
            }
            Ok(changed)
        }
        Place::Crontab { name } => {
            let current = read_crontab()?;
            let next = edit_crontab(&current, name, None);
            if next == current {
                return Ok(false);
            }
            write_crontab(&next)?;
            Ok(true)
        }
        Place::CronD { file } => match std::fs::remove_file(file) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Failed(format!("failed to remove {file}: {e}"))),
        },
    }
}

/// Write atomically, only when the content differs; true if it did.
fn write_if_changed(path: &Utf8Path, text: &str, mode: u32) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    ensure_dir(dir).map_err(|e| Error::Failed(e.to_string()))?;
    // cron skips names with a dot in /etc/cron.d, so it never reads the temp file.
    let tmp = dir.join(format!(".{}.tmp", path.file_name().unwrap_or("entry")));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, text)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Failed(format!("failed to write {path}: {e}"))
    })?;
    Ok(true)
}

fn default_unit_dir(args: &ScheduleArgs) -> bool {
    args.unit_dir == "/etc/systemd/system"
}

fn install_systemd(
    args: &ScheduleArgs,
    name: &str,
    files: [(&Utf8PathBuf, &String); 2],
) -> Result<bool> {
    let mut changed = false;
    for (path, text) in files {
        changed |= write_if_changed(path, text, 0o644)?;
    }
    if changed && default_unit_dir(args) {
        let reload = Command::new("systemctl").arg("daemon-reload").status();
        let enable = Command::new("systemctl")
            .args(["enable", "--now", &format!("{name}.timer")])
            .status();
        if !(reload.is_ok_and(|s| s.success()) && enable.is_ok_and(|s| s.success())) {
            crate::errln!(
                "warning: wrote the units, but `systemctl enable --now {name}.timer` failed; run it yourself"
            );
        }
    }
    Ok(changed)
}

fn install_crontab(name: &str, block: &str) -> Result<bool> {
    let current = read_crontab()?;
    let next = edit_crontab(&current, name, Some(block));
    if next == current {
        return Ok(false);
    }
    write_crontab(&next)?;
    Ok(true)
}

fn read_crontab() -> Result<String> {
    let out = Command::new("crontab")
        .arg("-l")
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Failed(format!("failed to run crontab: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        // "no crontab for <user>" is an empty crontab.
        Ok(String::new())
    }
}

fn write_crontab(text: &str) -> Result<()> {
    let mut child = Command::new("crontab")
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Failed(format!("failed to run crontab: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .map_err(|e| Error::Failed(format!("failed to write the crontab: {e}")))?;
    let status = child.wait().map_err(|e| Error::Failed(e.to_string()))?;
    if !status.success() {
        return Err(Error::Failed("crontab rejected the new crontab".into()));
    }
    Ok(())
}

/// The user name for the cron.d user field.
fn current_user() -> String {
    env_file::user_name(rustix::process::getuid().as_raw()).unwrap_or_else(|| "root".to_owned())
}

use crate::cli::ScheduleArgs;
use crate::error::{Error, Result};
use crate::layout::{Layout, ensure_dir};
use crate::schedule::{Entry, Interval, absolute, edit_crontab, unit_name};
use camino::{Utf8Path, Utf8PathBuf};
use std::io::Write;
use std::process::{Command, Stdio};

pub fn schedule(args: &ScheduleArgs) -> Result<()> {
    let recipe_path = absolute(&args.recipe);
    let stem = recipe_path.file_stem().unwrap_or("recipe");
    let name = unit_name(stem);
    if args.remove {
        return report(remove(args, &name)?, &name, "removed");
    }
    // A schedule of a broken recipe would fail every few hours: check it now.
    let recipe = crate::loader::load(&args.recipe)?;
    let every = args
        .every
        .clone()
        .expect("clap requires --every without --remove");
    let seed = u64::from_str_radix(
        &crate::digest::sha256_bytes(recipe_path.as_str().as_bytes())[..12],
        16,
    )
    .expect("hex");
    let interval = Interval::parse(&every, seed).map_err(Error::Usage)?;
    let program = match &args.program {
        Some(p) => absolute(p),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
            .ok_or_else(|| Error::Failed("failed to find the path of this executable".into()))?,
    };
    let log = match &args.log {
        Some(l) => absolute(l),
        None if args.user => Layout::from_env()
            .state
            .join("logs")
            .join(format!("{name}.log")),
        None => Utf8PathBuf::from("/var/log/pipeline").join(format!("{name}.log")),
    };
    if let Some(dir) = log.parent() {
        ensure_dir(dir).map_err(|e| Error::Failed(e.to_string()))?;
    }
    let entry = Entry {
        name: name.clone(),
        program,
        recipe: recipe_path.clone(),
        workdir: recipe.dir.clone(),
        log,
        env_file: args.env_file.as_deref().map(absolute),
        interval,
        every,
    };
    let changed = if args.systemd {
        install_systemd(args, &entry)?
    } else if args.user {
        install_crontab(&entry)?
    } else {
        let path = args.cron_dir.join(&name);
        write_if_changed(&path, &entry.cron_d(&current_user()), 0o644)?
    };
    report(
        changed,
        &name,
        &format!("runs every {} ({})", entry.every, entry.interval.cron()),
    )
}

fn report(changed: bool, name: &str, what: &str) -> Result<()> {
    println!(
        "{} {name}: {what}",
        if changed { "changed" } else { "unchanged" }
    );
    Ok(())
}

fn remove(args: &ScheduleArgs, name: &str) -> Result<bool> {
    if args.systemd {
        let mut changed = false;
        for unit in [format!("{name}.timer"), format!("{name}.service")] {
            let path = args.unit_dir.join(&unit);
            if path.exists() {
                if default_unit_dir(args) {
                    let _ = Command::new("systemctl")
                        .args(["disable", "--now", &unit])
                        .status();
                }
                std::fs::remove_file(&path)
                    .map_err(|e| Error::Failed(format!("failed to remove {path}: {e}")))?;
                changed = true;
            }
        }
        if changed && default_unit_dir(args) {
            let _ = Command::new("systemctl").arg("daemon-reload").status();
        }
        Ok(changed)
    } else if args.user {
        let current = read_crontab()?;
        let next = edit_crontab(&current, name, None);
        if next == current {
            return Ok(false);
        }
        write_crontab(&next)?;
        Ok(true)
    } else {
        let path = args.cron_dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Failed(format!("failed to remove {path}: {e}"))),
        }
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

fn install_systemd(args: &ScheduleArgs, entry: &Entry) -> Result<bool> {
    let service = args.unit_dir.join(format!("{}.service", entry.name));
    let timer = args.unit_dir.join(format!("{}.timer", entry.name));
    let a = write_if_changed(&service, &entry.systemd_service(), 0o644)?;
    let b = write_if_changed(&timer, &entry.systemd_timer(), 0o644)?;
    if (a || b) && default_unit_dir(args) {
        let reload = Command::new("systemctl").arg("daemon-reload").status();
        let enable = Command::new("systemctl")
            .args(["enable", "--now", &format!("{}.timer", entry.name)])
            .status();
        if !(reload.is_ok_and(|s| s.success()) && enable.is_ok_and(|s| s.success())) {
            eprintln!(
                "warning: wrote the units, but `systemctl enable --now {}.timer` failed; run it yourself",
                entry.name
            );
        }
    }
    Ok(a || b)
}

fn install_crontab(entry: &Entry) -> Result<bool> {
    let current = read_crontab()?;
    let next = edit_crontab(&current, &entry.name, Some(&entry.crontab_block()));
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
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_owned())
            })
        })
        .unwrap_or_else(|| "root".to_owned())
}

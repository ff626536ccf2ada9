use super::encode::{
    cron_command, cron_comment, cron_field, cron_word, sh_word, systemd_arg, systemd_comment,
    systemd_env, systemd_path, systemd_program, systemd_text,
};
use super::{Interval, Kind, ScheduleError};
use crate::state::Layout;
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

/// Everything a scheduled run needs, as absolute paths.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `pipeline-<recipe name>`: the cron.d file, crontab block or unit name.
    pub name: String,
    pub program: Utf8PathBuf,
    pub recipe: Utf8PathBuf,
    pub workdir: Utf8PathBuf,
    pub log: Utf8PathBuf,
    /// Secrets (PIPELINE_SECRET_*) that each run reads with
    /// `pipeline run --env-file`, if given.
    pub env_file: Option<Utf8PathBuf>,
    pub interval: Interval,
    pub every: String,
    /// Where the runs keep their cache and state: where `schedule` (and the
    /// `init` before it) found them, whatever cron's or systemd's HOME.
    pub layout: Layout,
    /// The `--cron-dir` or `--unit-dir` it is installed in, when not the
    /// default (for the `--remove` hint).
    pub dir: Option<Utf8PathBuf>,
}

/// The comment line of every entry that names the recipe it schedules,
/// literally: how `schedule` tells whose entry a name already holds.
pub const RECIPE_LINE: &str = "# recipe: ";

/// Only letters, digits, `-` and `_`: cron ignores /etc/cron.d files with
/// other characters (a dot, notably).
pub fn unit_name(recipe_name: &str) -> String {
    let clean: String = recipe_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("pipeline-{clean}")
}

type Comment = fn(&str, &str) -> Result<String, ScheduleError>;

impl Entry {
    /// The comment lines that start every file or block: what it does, the
    /// recipe (see [`RECIPE_LINE`]) and how to remove it.
    fn header(&self, kind: Kind, comment: Comment) -> Result<String, ScheduleError> {
        let recipe = comment("the recipe path", self.recipe.as_str())?;
        let every = comment("the interval (--every)", &self.every)?;
        if let Some(dir) = &self.dir {
            comment("the entry's directory", dir.as_str())?;
        }
        Ok(format!(
            "# {name}: runs `pipeline run` on the recipe below every {every}.\n{RECIPE_LINE}{recipe}\n# Installed by `pipeline schedule`; remove it with `pipeline schedule {hint} --remove{flags}`.\n",
            name = self.name,
            hint = sh_word(&recipe),
            flags = kind.remove_flags(self.dir.as_deref()),
        ))
    }

    /// The shell command cron runs: every value one word for sh, escaped
    /// for cron; the layout's variables as assignments before the program
    /// (sh exports them to it alone); the env file is read by `pipeline
    /// run` itself.
    pub fn command(&self) -> Result<String, ScheduleError> {
        let mut cmd = format!(
            "cd {} && ",
            cron_word("the recipe's directory", self.workdir.as_str())?
        );
        for (name, dir) in self.layout.vars() {
            cmd.push_str(&format!(
                "{name}={} ",
                cron_word(&format!("the directory of {name}"), dir.as_str())?
            ));
        }
        cmd.push_str(&format!(
            "{} run ",
            cron_word("the program path (--program)", self.program.as_str())?
        ));
        if let Some(env) = &self.env_file {
            cmd.push_str(&format!(
                "--env-file {} ",
                cron_word("the env file path (--env-file)", env.as_str())?
            ));
        }
        cmd.push_str(&format!(
            "{} >>{} 2>&1",
            cron_word("the recipe path", self.recipe.as_str())?,
            cron_word("the log path (--log)", self.log.as_str())?
        ));
        cron_command(cmd)
    }

    /// A file for /etc/cron.d: environment lines, then one line with the
    /// user field; it ends with a newline (cron ignores a last line without one).
    pub fn cron_d(&self, user: &str) -> Result<String, ScheduleError> {
        Ok(format!(
            "{}SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{} {} {}\n",
            self.header(Kind::CronD, cron_comment)?,
            self.interval.cron(),
            cron_field("the user name", user)?,
            self.command()?
        ))
    }

    /// A marked block for a user's crontab (no user field there).
    pub fn crontab_block(&self) -> Result<String, ScheduleError> {
        Ok(format!(
            "# BEGIN {name}\n{}{} {}\n# END {name}\n",
            self.header(Kind::Crontab, cron_comment)?,
            self.interval.cron(),
            self.command()?,
            name = self.name
        ))
    }

    pub fn systemd_service(&self) -> Result<String, ScheduleError> {
        let mut exec = vec![
            systemd_program("the program path (--program)", self.program.as_str())?,
            "run".to_owned(),
        ];
        if let Some(env) = &self.env_file {
            exec.push("--env-file".to_owned());
            exec.push(systemd_arg("the env file path (--env-file)", env.as_str())?);
        }
        exec.push(systemd_arg("the recipe path", self.recipe.as_str())?);
        let log = systemd_path(
            "the log path (--log)",
            self.log.as_str(),
            "StandardOutput=append:",
        )?;
        let mut env = String::new();
        for (name, dir) in self.layout.vars() {
            let what = format!("the directory of {name}");
            env.push_str(&format!(
                "Environment={}\n",
                systemd_env(&what, name, dir.as_str())?
            ));
        }
        Ok(format!(
            "{header}[Unit]\nDescription=pipeline run {recipe}\n\n[Service]\nType=oneshot\n{env}WorkingDirectory={wd}\nExecStart=:{exec}\nStandardOutput=append:{log}\nStandardError=append:{log}\n",
            header = self.header(Kind::Systemd, systemd_comment)?,
            recipe = systemd_text("the recipe path", self.recipe.as_str())?,
            wd = systemd_path(
                "the recipe's directory",
                self.workdir.as_str(),
                "WorkingDirectory="
            )?,
            exec = exec.join(" "),
        ))
    }

    pub fn systemd_timer(&self) -> Result<String, ScheduleError> {
        Ok(format!(
            "{header}[Unit]\nDescription=run {name} every {every}\n\n[Timer]\nOnCalendar={cal}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
            header = self.header(Kind::Systemd, systemd_comment)?,
            name = self.name,
            every = systemd_text("the interval (--every)", &self.every)?,
            cal = self.interval.on_calendar()
        ))
    }
}

/// The recipe an installed entry (a file, or a crontab block) schedules,
/// from its [`RECIPE_LINE`]; for entries written before that line, from the
/// `--remove` hint of cron entries or the `Description=` of a service.
pub fn scheduled_recipe(text: &str) -> Option<Utf8PathBuf> {
    if let Some(path) = text.lines().find_map(|l| l.strip_prefix(RECIPE_LINE)) {
        return Some(path.into());
    }
    text.lines().find_map(|line| {
        if let Some(rest) = line
            .strip_prefix("# Installed by `pipeline schedule`; remove it with `pipeline schedule ")
        {
            return rest.strip_suffix(" --remove`.").map(Utf8PathBuf::from);
        }
        let desc = line.strip_prefix("Description=pipeline run ")?;
        Some(desc.replace("%%", "%").into())
    })
}

/// The marked block of `name` in a crontab, if there is one.
pub fn crontab_block_of(current: &str, name: &str) -> Option<String> {
    let begin = format!("# BEGIN {name}");
    let end = format!("# END {name}");
    let mut lines = current.lines().skip_while(|l| *l != begin);
    lines.next()?;
    let block: Vec<&str> = lines.take_while(|l| *l != end).collect();
    Some(block.join("\n") + "\n")
}

/// Replace (or remove, with `None`) the marked block of `name` in a crontab.
pub fn edit_crontab(current: &str, name: &str, block: Option<&str>) -> String {
    let begin = format!("# BEGIN {name}");
    let end = format!("# END {name}");
    let mut out = String::new();
    let mut inside = false;
    for line in current.lines() {
        if line == begin {
            inside = true;
            continue;
        }
        if inside {
            if line == end {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(block) = block {
        out.push_str(block);
    }
    out
}

/// `path` made absolute: canonical if it exists; else its directory
/// canonical if that exists, else the path against the current directory
/// with `.` and `..` folded. Never a `..` (systemd refuses them in paths).
pub fn absolute(path: &Utf8Path) -> Utf8PathBuf {
    if let Ok(p) = path.canonicalize_utf8() {
        return p;
    }
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .ok()
            .and_then(|d| Utf8PathBuf::from_path_buf(d).ok())
            .map_or_else(|| path.to_owned(), |d| d.join(path))
    };
    let mut folded = Utf8PathBuf::new();
    for part in joined.components() {
        match part {
            Utf8Component::CurDir => {}
            Utf8Component::ParentDir => {
                folded.pop();
            }
            other => folded.push(other),
        }
    }
    match (folded.parent(), folded.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize_utf8()
            .map_or_else(|_| folded.clone(), |d| d.join(name)),
        _ => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            name: "pipeline-demo".into(),
            program: "/usr/local/bin/pipeline".into(),
            recipe: "/srv/it's 100%/demo.toml".into(),
            workdir: "/srv/it's 100%".into(),
            log: "/var/log/pipeline/demo.log".into(),
            env_file: None,
            interval: Interval::Hours {
                every: 6,
                at_minute: 17,
            },
            every: "6h".into(),
            layout: Layout {
                cache: "/var/cache/pipe 100%".into(),
                state: "/var/lib/pipe".into(),
            },
            dir: None,
        }
    }

    #[test]
    fn cron_d_line_has_the_user_field_quoting_and_a_final_newline() {
        let text = entry().cron_d("root").unwrap();
        assert!(text.ends_with("2>&1\n"), "{text}");
        let line = text.lines().last().unwrap();
        assert_eq!(
            line,
            r"17 */6 * * * root cd '/srv/it'\''s 100\%' && PIPELINE_CACHE_DIR='/var/cache/pipe 100\%' PIPELINE_STATE_DIR='/var/lib/pipe' '/usr/local/bin/pipeline' run '/srv/it'\''s 100\%/demo.toml' >>'/var/log/pipeline/demo.log' 2>&1"
        );
    }

    #[test]
    fn the_env_file_is_an_argument_of_run_never_sourced() {
        let mut e = entry();
        e.env_file = Some("/etc/pipeline/$x 100%.env".into());
        let cron = e.cron_d("root").unwrap();
        assert!(
            cron.contains(r" run --env-file '/etc/pipeline/$x 100\%.env' '/srv/"),
            "{cron}"
        );
        assert!(!cron.contains(". '"), "{cron}");
        let service = e.systemd_service().unwrap();
        assert!(
            service.contains(r#" run --env-file "/etc/pipeline/$x 100%%.env" "/srv/"#),
            "{service}"
        );
        assert!(!service.contains("EnvironmentFile"), "{service}");
    }

    #[test]
    fn systemd_runs_get_the_layout_as_environment() {
        let service = entry().systemd_service().unwrap();
        assert!(
            service.contains(
                "\nEnvironment=\"PIPELINE_CACHE_DIR=/var/cache/pipe 100%%\"\nEnvironment=\"PIPELINE_STATE_DIR=/var/lib/pipe\"\n"
            ),
            "{service}"
        );
    }

    #[test]
    fn the_remove_hint_names_a_directory_other_than_the_default() {
        let mut e = entry();
        assert!(e.cron_d("root").unwrap().contains(" --remove`.\n"));
        e.dir = Some("/tmp/my units".into());
        assert!(
            e.cron_d("root")
                .unwrap()
                .contains(" --remove --cron-dir '/tmp/my units'`.\n")
        );
        assert!(
            e.systemd_timer()
                .unwrap()
                .contains(" --remove --systemd --unit-dir '/tmp/my units'`.\n")
        );
    }

    #[test]
    fn every_file_names_its_recipe() {
        let e = entry();
        for text in [
            e.cron_d("root").unwrap(),
            e.crontab_block().unwrap(),
            e.systemd_service().unwrap(),
            e.systemd_timer().unwrap(),
        ] {
            assert_eq!(
                scheduled_recipe(&text).unwrap(),
                Utf8PathBuf::from("/srv/it's 100%/demo.toml"),
                "{text}"
            );
        }
    }

    #[test]
    fn entries_from_before_the_recipe_line_are_recognised() {
        let cron = "# pipeline-demo: runs `pipeline run /srv/a b/demo.toml` every 6h.\n# Installed by `pipeline schedule`; remove it with `pipeline schedule /srv/a b/demo.toml --remove`.\nSHELL=/bin/sh\n";
        assert_eq!(scheduled_recipe(cron).unwrap(), "/srv/a b/demo.toml");
        let service = "# Installed by `pipeline schedule`.\n[Unit]\nDescription=pipeline run /srv/100%%/demo.toml\n";
        assert_eq!(scheduled_recipe(service).unwrap(), "/srv/100%/demo.toml");
        assert_eq!(scheduled_recipe("* * * * * root true\n"), None);
    }

    #[test]
    fn crontab_blocks_are_replaced_in_place() {
        let block = entry().crontab_block().unwrap();
        let once = edit_crontab("MAILTO=x\n", "pipeline-demo", Some(&block));
        let twice = edit_crontab(&once, "pipeline-demo", Some(&block));
        assert_eq!(once, twice);
        assert_eq!(
            scheduled_recipe(&crontab_block_of(&twice, "pipeline-demo").unwrap()).unwrap(),
            "/srv/it's 100%/demo.toml"
        );
        assert_eq!(crontab_block_of(&twice, "pipeline-other"), None);
        assert_eq!(edit_crontab(&twice, "pipeline-demo", None), "MAILTO=x\n");
    }

    #[test]
    fn names_are_safe_for_cron_d() {
        assert_eq!(unit_name("github-runner"), "pipeline-github-runner");
        assert_eq!(unit_name("my.recipe v2"), "pipeline-my-recipe-v2");
    }

    #[test]
    fn absolute_paths_have_no_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        assert_eq!(
            absolute(&dir.join("a/../b/./c.log")),
            dir.join("b/c.log"),
            "a file in a directory that does not exist yet"
        );
        assert_eq!(absolute(&dir.join("x.log")), dir.join("x.log"));
    }
}

use super::Interval;
use camino::{Utf8Path, Utf8PathBuf};

/// Everything a scheduled run needs, as absolute paths.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `pipeline-<recipe name>`: the cron.d file, crontab block or unit name.
    pub name: String,
    pub program: Utf8PathBuf,
    pub recipe: Utf8PathBuf,
    pub workdir: Utf8PathBuf,
    pub log: Utf8PathBuf,
    /// Sourced before the run (secrets: PIPELINE_SECRET_*), if given.
    pub env_file: Option<Utf8PathBuf>,
    pub interval: Interval,
    pub every: String,
}

/// A word for sh, single-quoted; cron needs `%` escaped even inside quotes
/// (it turns an unescaped `%` into a newline).
pub fn cron_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''")).replace('%', r"\%")
}

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

impl Entry {
    /// The shell command cron runs.
    pub fn command(&self) -> String {
        let mut cmd = format!("cd {} && ", cron_quote(self.workdir.as_str()));
        if let Some(env) = &self.env_file {
            cmd.push_str(&format!(
                "set -a && . {} && set +a && ",
                cron_quote(env.as_str())
            ));
        }
        cmd.push_str(&format!(
            "{} run {} >>{} 2>&1",
            cron_quote(self.program.as_str()),
            cron_quote(self.recipe.as_str()),
            cron_quote(self.log.as_str())
        ));
        cmd
    }

    fn header(&self) -> String {
        format!(
            "# {}: runs `pipeline run {}` every {}.\n# Installed by `pipeline schedule`; remove it with `pipeline schedule {} --remove`.\n",
            self.name, self.recipe, self.every, self.recipe
        )
    }

    /// A file for /etc/cron.d: environment lines, then one line with the
    /// user field; it ends with a newline (cron ignores a last line without one).
    pub fn cron_d(&self, user: &str) -> String {
        format!(
            "{}SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{} {user} {}\n",
            self.header(),
            self.interval.cron(),
            self.command()
        )
    }

    /// A marked block for a user's crontab (no user field there).
    pub fn crontab_block(&self) -> String {
        format!(
            "# BEGIN {name}\n{}{} {}\n# END {name}\n",
            self.header(),
            self.interval.cron(),
            self.command(),
            name = self.name
        )
    }

    pub fn systemd_service(&self) -> String {
        let env = self
            .env_file
            .as_ref()
            .map(|e| format!("EnvironmentFile={e}\n"))
            .unwrap_or_default();
        format!(
            "# Installed by `pipeline schedule`.\n[Unit]\nDescription=pipeline run {recipe}\n\n[Service]\nType=oneshot\nWorkingDirectory={wd}\n{env}ExecStart={program} run {recipe}\nStandardOutput=append:{log}\nStandardError=append:{log}\n",
            recipe = systemd_escape(self.recipe.as_str()),
            wd = systemd_escape(self.workdir.as_str()),
            program = systemd_escape(self.program.as_str()),
            log = self.log,
        )
    }

    pub fn systemd_timer(&self) -> String {
        format!(
            "# Installed by `pipeline schedule`.\n[Unit]\nDescription=run {name} every {every}\n\n[Timer]\nOnCalendar={cal}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
            name = self.name,
            every = self.every,
            cal = self.interval.on_calendar()
        )
    }
}

/// Quote a path for a systemd command line if it needs it.
fn systemd_escape(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.to_owned()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
        )
    }
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

pub fn absolute(path: &Utf8Path) -> Utf8PathBuf {
    match path.canonicalize_utf8() {
        Ok(p) => p,
        Err(_) => std::env::current_dir()
            .ok()
            .and_then(|d| Utf8PathBuf::from_path_buf(d).ok())
            .map_or_else(|| path.to_owned(), |d| d.join(path)),
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
        }
    }

    #[test]
    fn cron_d_line_has_the_user_field_quoting_and_a_final_newline() {
        let text = entry().cron_d("root");
        assert!(text.ends_with("2>&1\n"), "{text}");
        let line = text.lines().last().unwrap();
        assert_eq!(
            line,
            r"17 */6 * * * root cd '/srv/it'\''s 100\%' && '/usr/local/bin/pipeline' run '/srv/it'\''s 100\%/demo.toml' >>'/var/log/pipeline/demo.log' 2>&1"
        );
    }

    #[test]
    fn crontab_blocks_are_replaced_in_place() {
        let block = entry().crontab_block();
        let once = edit_crontab("MAILTO=x\n", "pipeline-demo", Some(&block));
        let twice = edit_crontab(&once, "pipeline-demo", Some(&block));
        assert_eq!(once, twice);
        assert_eq!(edit_crontab(&twice, "pipeline-demo", None), "MAILTO=x\n");
    }

    #[test]
    fn names_are_safe_for_cron_d() {
        assert_eq!(unit_name("github-runner"), "pipeline-github-runner");
        assert_eq!(unit_name("my.recipe v2"), "pipeline-my-recipe-v2");
    }
}

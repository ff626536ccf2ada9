use super::sh_word;
use camino::Utf8Path;

/// Where an entry is installed: an /etc/cron.d file, a block of the user's
/// crontab, or a systemd service and timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CronD,
    Crontab,
    Systemd,
}

impl Kind {
    /// The flag of `pipeline schedule` that selects it (with its leading
    /// space), for the `--remove` hints.
    pub fn flag(self) -> &'static str {
        match self {
            Kind::CronD => "",
            Kind::Crontab => " --user",
            Kind::Systemd => " --systemd",
        }
    }

    /// What `--remove` needs besides the recipe to find the entry: the
    /// kind's flag, and `dir` (the `--cron-dir` or `--unit-dir`) if given.
    pub fn remove_flags(self, dir: Option<&Utf8Path>) -> String {
        let option = match self {
            Kind::CronD => "--cron-dir",
            Kind::Crontab => return self.flag().to_owned(),
            Kind::Systemd => "--unit-dir",
        };
        match dir {
            Some(dir) => format!("{} {option} {}", self.flag(), sh_word(dir.as_str())),
            None => self.flag().to_owned(),
        }
    }
}

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
}

//! `pipeline schedule`: install (idempotently) a cron entry, a crontab block
//! or a systemd timer that reruns a recipe every N hours.

mod entry;
mod interval;

pub use entry::{Entry, absolute, cron_quote, edit_crontab, unit_name};
pub use interval::Interval;

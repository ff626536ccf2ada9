//! `pipeline schedule`: install (idempotently) a cron entry, a crontab block
//! or a systemd timer that reruns a recipe every N hours.

mod encode;
mod entry;
pub mod env_file;
mod interval;
mod kind;
mod schedule_error;

pub use encode::{CRON_COMMAND_MAX, sh_word};
pub use entry::{
    Entry, RECIPE_LINE, absolute, crontab_block_of, edit_crontab, scheduled_recipe, unit_name,
};
pub use interval::Interval;
pub use kind::Kind;
pub use schedule_error::ScheduleError;

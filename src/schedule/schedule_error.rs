use super::encode::{CRON_COMMAND_MAX, sh_word};
use camino::Utf8PathBuf;

/// Why `schedule` writes (or removes) nothing: an `--every` cron cannot
/// do, a value a format cannot carry, an env file that is not safe to hand
/// to every run, or an entry of that name that is not this recipe's. `what`
/// names the value (like "the recipe path").
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid --every `{value}`: {source}; write it like `6h` or `1d`")]
    Interval {
        value: String,
        source: humantime::DurationError,
    },
    #[error("invalid --every `{value}`: use whole minutes, at least 1m")]
    PartMinute { value: String },
    #[error(
        "cron cannot run every {value} evenly: use minutes dividing an hour (1m … 30m), hours dividing a day (1h, 2h, 3h, 4h, 6h, 8h, 12h), 1d or 7d"
    )]
    Uneven { value: String },

    #[error(
        "{what} {text:?} contains {}: control characters cannot be written into {format}; nothing was written",
        describe(*.c)
    )]
    Control {
        what: String,
        text: String,
        c: char,
        format: &'static str,
    },
    #[error("{what} {text:?} contains {}, which would split a cron field; nothing was written", describe(*.c))]
    SplitsField { what: String, text: String, c: char },
    #[error("{what} is empty; nothing was written")]
    Empty { what: String },
    #[error(
        "the cron command would be {len} bytes long, and cron ignores a command longer than {CRON_COMMAND_MAX} (a whole /etc/cron.d file with it); use shorter paths (--log, --program, --env-file, the recipe's, the cache and state directories), or --systemd; nothing was written"
    )]
    CronTooLong { len: usize },
    #[error(
        "{what} {text:?} contains {} at the end, which systemd reads as a line continuation; nothing was written",
        describe('\\')
    )]
    Continuation { what: String, text: String },
    #[error(
        "{what} {text:?} contains {}, which systemd refuses in the executable of `ExecStart=` (\"Executable name contains special characters\"); install it where its path has none, or use cron; nothing was written",
        describe(*.c)
    )]
    Executable { what: String, text: String, c: char },
    #[error(
        "{what} {text:?} contains {} at an end, which systemd strips from `{setting}` (it has no quoting); nothing was written",
        describe(' ')
    )]
    EdgeSpace {
        what: String,
        text: String,
        setting: &'static str,
    },

    #[error(
        "the env file `{path}` does not exist: write the secrets there as `PIPELINE_SECRET_NAME=value` lines, then `chmod 600 {path}`"
    )]
    EnvFileMissing { path: Utf8PathBuf },
    #[error("failed to read the env file `{path}`: {source}")]
    EnvFileUnreadable {
        path: Utf8PathBuf,
        source: std::io::Error,
    },
    #[error("the env file `{path}` is not a regular file: pass the file of `NAME=value` lines")]
    EnvFileNotFile { path: Utf8PathBuf },
    #[error(
        "the env file `{path}` has mode {mode:04o}, which lets its group or others read or change the secrets in it: run `chmod 600 {path}`"
    )]
    EnvFileMode { path: Utf8PathBuf, mode: u32 },
    #[error(
        "the env file `{path}` is owned by {holder}, not {owner}: whoever owns it can read the secrets and set the environment of every scheduled run; run `chown {owner}: {path}`"
    )]
    EnvFileOwner {
        path: Utf8PathBuf,
        holder: String,
        owner: String,
    },
    /// A line that is not `NAME=value` (the loader's message, with file:line).
    #[error("{message}")]
    EnvFileSyntax { message: String },

    /// `--remove` of a recipe whose entry name schedules another recipe;
    /// `flags` are what `--remove` of that one needs.
    #[error(
        "{name} schedules {other}, not {recipe}; nothing was removed; to remove it, run `pipeline schedule {} --remove{flags}`",
        sh_word(.other.as_str())
    )]
    NotItsEntry {
        name: String,
        other: Utf8PathBuf,
        recipe: Utf8PathBuf,
        flags: String,
    },
    #[error(
        "{name} already schedules {other}; {recipe} has the same name, `{recipe_name}`, and would replace it, so nothing was written; give one of the two recipes its own name: put `name = \"{suggested}\"` at the top of {recipe}"
    )]
    NameTaken {
        name: String,
        other: Utf8PathBuf,
        recipe: Utf8PathBuf,
        recipe_name: String,
        suggested: String,
    },
    /// `place` (a file, or a crontab block) holds the name but was not
    /// written by `schedule`.
    #[error(
        "{place} exists but does not say which recipe it schedules (no `# recipe:` line): it was not installed by `pipeline schedule`, so it is left alone and nothing was {}; move it away if it is stale",
        if *.removing { "removed" } else { "written" }
    )]
    NotOurs { place: String, removing: bool },
}

/// What a refused character is, for a message.
fn describe(c: char) -> String {
    match c {
        '\n' => "a newline (U+000A)".to_owned(),
        '\r' => "a carriage return (U+000D)".to_owned(),
        '\t' => "a tab (U+0009)".to_owned(),
        ' ' => "a space".to_owned(),
        '\\' => "a backslash (`\\`)".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

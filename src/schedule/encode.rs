//! How a value is written into a cron entry, a crontab block or a systemd
//! unit: encoded where the format can carry it, refused where it cannot,
//! with a message that names the value and the character.
//!
//! Everywhere: a control character (U+0000–U+001F, U+007F–U+009F) is
//! refused; a newline would end the line and start another one, which cron
//! runs and systemd reads as a setting.
//!
//! cron (Debian's, checked against the daemon): the command field is run by
//! `/bin/sh -c` after cron has turned each unescaped `%` into a newline
//! (the rest goes to the command's stdin), `\%` into `%` and `\\` into `\`
//! (any other `\c` is left alone). A word is single-quoted for sh, then a
//! `%` is written `\%`, and a `\` that cron would otherwise take as an
//! escape (before `\` or `%`) is written `\\`. Cron reads at most 998 bytes
//! of a command: a longer one makes cron ignore the whole /etc/cron.d file,
//! and `crontab` refuse it, so it is refused here.
//!
//! systemd (systemd.syntax, systemd.service; checked against systemd 252):
//! a line ending in `\` continues on the next one; `%` starts a specifier
//! everywhere (`%%` is a `%`). `ExecStart=` splits words with its own
//! quoting (as does `Environment=`, which never expands `$`); the unit's
//! command line starts with `:`, so `$VAR` and `${VAR}`
//! are not expanded, and a `$` is written as it is. An argument other than
//! plain letters, digits and `/._-+` is double-quoted, with `\` and `"`
//! backslash-escaped. The executable itself cannot hold a quote or a
//! backslash at all (systemd: "Executable name contains special
//! characters", the unit does not load): refused. Path settings
//! (`WorkingDirectory=`, `StandardOutput=append:`) take the rest of the
//! line literally but strip surrounding whitespace, and have no quoting: a
//! path that starts or ends with a space, or ends with `\`, is refused.

use super::ScheduleError;

/// The longest command field cron runs, in bytes.
pub const CRON_COMMAND_MAX: usize = 998;

/// Refuse control characters, the same in every format.
fn no_control(what: &str, text: &str, format: &'static str) -> Result<(), ScheduleError> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(ScheduleError::Control {
            what: what.to_owned(),
            text: text.to_owned(),
            c,
            format,
        }),
        None => Ok(()),
    }
}

/// A word for sh, single-quoted (what `'` is written as: `'\''`).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A word for sh, quoted only if it needs it (for messages and comments).
pub fn sh_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        s.to_owned()
    } else {
        sh_quote(s)
    }
}

/// Escape sh text for cron's command field: `%` as `\%`, and `\` as `\\`
/// where cron would otherwise read it as an escape (before `\` or `%`).
fn cron_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push_str(r"\%"),
            '\\' if matches!(chars.peek(), Some('\\' | '%')) => out.push_str(r"\\"),
            c => out.push(c),
        }
    }
    out
}

/// One word of a cron command: quoted for sh, escaped for cron.
pub fn cron_word(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a cron entry")?;
    Ok(cron_escape(&sh_quote(text)))
}

/// Text of a cron comment line (cron reads nothing of it but its end).
pub fn cron_comment(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a cron entry")?;
    Ok(text.to_owned())
}

/// A cron field that must be one word (the user of an /etc/cron.d line).
pub fn cron_field(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a cron entry")?;
    match text.chars().find(|c| c.is_whitespace()) {
        Some(c) => Err(ScheduleError::SplitsField {
            what: what.to_owned(),
            text: text.to_owned(),
            c,
        }),
        None if text.is_empty() => Err(ScheduleError::Empty {
            what: what.to_owned(),
        }),
        None => Ok(text.to_owned()),
    }
}

/// The command field of a cron line, refused when cron would not run it.
pub fn cron_command(command: String) -> Result<String, ScheduleError> {
    if command.len() > CRON_COMMAND_MAX {
        return Err(ScheduleError::CronTooLong { len: command.len() });
    }
    Ok(command)
}

/// No `\` at the end: systemd would join the next line to this one.
fn no_continuation(what: &str, text: &str) -> Result<(), ScheduleError> {
    if text.ends_with('\\') {
        return Err(ScheduleError::Continuation {
            what: what.to_owned(),
            text: text.to_owned(),
        });
    }
    Ok(())
}

/// A word of `ExecStart=` as systemd reads it after the `:` prefix (no
/// `$` expansion): plain, or double-quoted with `\`, `"` and `%` escaped.
fn systemd_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An argument of `ExecStart=` (the line starts with `:`: no `$` expansion).
pub fn systemd_arg(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a systemd unit")?;
    Ok(systemd_quote(text))
}

/// An `Environment=` assignment, `"NAME=value"`: systemd unquotes it as it
/// does `ExecStart=` words and never expands a `$` in it.
pub fn systemd_env(what: &str, name: &str, value: &str) -> Result<String, ScheduleError> {
    no_control(what, value, "a systemd unit")?;
    Ok(systemd_quote(&format!("{name}={value}")))
}

/// The executable of `ExecStart=`: systemd refuses a quote or a backslash in it.
pub fn systemd_program(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a systemd unit")?;
    if let Some(c) = text.chars().find(|c| "'\"\\".contains(*c)) {
        return Err(ScheduleError::Executable {
            what: what.to_owned(),
            text: text.to_owned(),
            c,
        });
    }
    Ok(systemd_quote(text))
}

/// A path for a setting that takes it literally (`WorkingDirectory=`,
/// `StandardOutput=append:`): specifiers escaped, the rest refused.
pub fn systemd_path(
    what: &str,
    text: &str,
    setting: &'static str,
) -> Result<String, ScheduleError> {
    no_control(what, text, "a systemd unit")?;
    no_continuation(what, text)?;
    if text.starts_with(' ') || text.ends_with(' ') {
        return Err(ScheduleError::EdgeSpace {
            what: what.to_owned(),
            text: text.to_owned(),
            setting,
        });
    }
    Ok(text.replace('%', "%%"))
}

/// Free text of a setting such as `Description=`: specifiers escaped.
pub fn systemd_text(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a systemd unit")?;
    no_continuation(what, text)?;
    Ok(text.replace('%', "%%"))
}

/// Text of a systemd comment line.
pub fn systemd_comment(what: &str, text: &str) -> Result<String, ScheduleError> {
    no_control(what, text, "a systemd unit")?;
    no_continuation(what, text)?;
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian's cron does to a command before `sh -c` (as observed
    /// with the daemon): `\%` → `%`, `\\` → `\`, other `\c` kept, and an
    /// unescaped `%` ends the command.
    fn as_cron_reads_it(s: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n @ ('%' | '\\')) => out.push(n),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                },
                '%' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    #[test]
    fn cron_words_survive_cron_then_sh() {
        for text in [
            "plain",
            "it's 100%",
            r"\%",
            r"a\\%b",
            r"a\b",
            r"trailing\",
            r"\\\\",
            "$HOME `id` $(true) \"q\"",
            "%%%",
        ] {
            let word = cron_word("the path", text).unwrap();
            let sh = as_cron_reads_it(&word).unwrap_or_else(|| panic!("{word} is cut"));
            assert_eq!(shlex::split(&sh).unwrap(), [text], "{word}");
        }
    }

    #[test]
    fn control_characters_are_refused_in_every_format() {
        for text in ["a\nb", "a\rb", "a\tb", "a\u{1b}b", "a\u{7f}b", "a\u{85}b"] {
            let control = |r: Result<_, ScheduleError>| matches!(r, Err(ScheduleError::Control { text: t, .. }) if t == text);
            assert!(control(cron_word("the path", text)), "{text:?}");
            assert!(control(cron_comment("the path", text)), "{text:?}");
            assert!(control(cron_field("the path", text)), "{text:?}");
            assert!(control(systemd_arg("the path", text)), "{text:?}");
            assert!(control(systemd_program("the path", text)), "{text:?}");
            assert!(control(systemd_path("the path", text, "WorkingDirectory=")));
            assert!(control(systemd_text("the path", text)), "{text:?}");
            assert!(control(systemd_comment("the path", text)), "{text:?}");
        }
        assert_eq!(
            cron_word("the recipe path", "/a\n* * * * * root sh")
                .unwrap_err()
                .to_string(),
            r#"the recipe path "/a\n* * * * * root sh" contains a newline (U+000A): control characters cannot be written into a cron entry; nothing was written"#
        );
    }

    #[test]
    fn a_cron_field_is_one_word() {
        assert_eq!(cron_field("the user name", "root").unwrap(), "root");
        assert!(matches!(
            cron_field("the user name", "a b"),
            Err(ScheduleError::SplitsField { c: ' ', .. })
        ));
        assert!(matches!(
            cron_field("the user name", ""),
            Err(ScheduleError::Empty { .. })
        ));
    }

    #[test]
    fn systemd_words_escape_quotes_and_specifiers() {
        assert_eq!(systemd_arg("p", "/usr/bin/x").unwrap(), "/usr/bin/x");
        assert_eq!(
            systemd_arg("p", r#"/a b/it's "100%" $HOME ${X} \n"#).unwrap(),
            r#""/a b/it's \"100%%\" $HOME ${X} \\n""#
        );
        assert_eq!(systemd_arg("p", ";").unwrap(), "\";\"");
        assert_eq!(
            systemd_env("d", "PIPELINE_STATE_DIR", r#"/a b/"100%" $X \"#).unwrap(),
            r#""PIPELINE_STATE_DIR=/a b/\"100%%\" $X \\""#
        );
        assert_eq!(
            systemd_program("p", "/opt/a b/$x 100%/pipeline").unwrap(),
            r#""/opt/a b/$x 100%%/pipeline""#
        );
        for bad in [
            "/opt/it's/pipeline",
            "/opt/\"q\"/pipeline",
            r"/opt/a\b/pipeline",
        ] {
            assert!(
                matches!(
                    systemd_program("p", bad),
                    Err(ScheduleError::Executable { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn systemd_paths_refuse_what_has_no_quoting() {
        assert_eq!(
            systemd_path("d", "/a 100%/$x \"y\"", "WorkingDirectory=").unwrap(),
            "/a 100%%/$x \"y\""
        );
        assert!(matches!(
            systemd_path("d", "/a ", "WorkingDirectory="),
            Err(ScheduleError::EdgeSpace {
                setting: "WorkingDirectory=",
                ..
            })
        ));
        assert!(matches!(
            systemd_path("d", r"/a\", "WorkingDirectory="),
            Err(ScheduleError::Continuation { .. })
        ));
        assert!(matches!(
            systemd_text("d", r"/a\"),
            Err(ScheduleError::Continuation { .. })
        ));
        assert_eq!(systemd_text("d", "100%").unwrap(), "100%%");
    }

    #[test]
    fn long_cron_commands_are_refused() {
        assert!(cron_command("x".repeat(CRON_COMMAND_MAX)).is_ok());
        assert!(matches!(
            cron_command("x".repeat(CRON_COMMAND_MAX + 1)),
            Err(ScheduleError::CronTooLong { len }) if len == CRON_COMMAND_MAX + 1
        ));
    }
}

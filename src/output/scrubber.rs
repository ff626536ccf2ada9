//! The one place that keeps secrets out of what pipeline prints and logs.
//!
//! Every secret value and credential pipeline reads is registered here as
//! it is read: `PIPELINE_SECRET_*` values (at start, and again after
//! `--env-file`), the passwords and application-credential secrets of
//! clouds.yaml (and of an `auth_url`'s userinfo), and the Keystone tokens
//! it gets. Every sink passes its text through [`Scrubber::scrub`]: stdout
//! and stderr (the [`outln!`](crate::outln) family; `clippy.toml` forbids
//! the std print macros), the progress view and `run.log`, step logs,
//! manifests, console logs and panic messages.
//!
//! The rules:
//! - a registered value is replaced by `********` wherever it occurs, even
//!   inside a word, and so are the forms JSON and `{:?}` escape it to, and
//!   each line of a multi-line value (sinks that work line by line);
//! - a value shorter than [`MIN_LEN`] bytes is not scrubbed: it would
//!   mangle innocent text (`abc` is in every third word). The loader
//!   refuses such `PIPELINE_SECRET_*` values; a cloud credential that short
//!   is the cloud's, so it is used, with a warning;
//! - the userinfo of every URL (`https://user:password@host/…`) is removed.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;
use std::ops::Range;
use std::sync::{Mutex, RwLock};

/// Shorter values are not scrubbed (see the module's rules).
pub const MIN_LEN: usize = 4;
/// What a secret value becomes.
pub const MASK: &str = "********";

/// The values to scrub, longest first (a secret that contains another is
/// masked whole).
pub struct Scrubber {
    values: RwLock<Vec<String>>,
    /// Short credentials already warned about (once each).
    warned: RwLock<BTreeSet<String>>,
    /// The first failure to write to stdout other than a closed pipe.
    stdout_failure: Mutex<Option<String>>,
}

static GLOBAL: Scrubber = Scrubber::new();

impl Scrubber {
    pub const fn new() -> Self {
        Self {
            values: RwLock::new(Vec::new()),
            warned: RwLock::new(BTreeSet::new()),
            stdout_failure: Mutex::new(None),
        }
    }

    /// The process's scrubber, which every sink uses.
    pub fn global() -> &'static Scrubber {
        &GLOBAL
    }

    /// Scrub `value` from now on; `false` when it is too short to (1 to
    /// [`MIN_LEN`]` - 1` bytes). An empty value hides nothing: `true`.
    pub fn register(&self, value: &str) -> bool {
        if value.is_empty() {
            return true;
        }
        if value.len() < MIN_LEN {
            return false;
        }
        let mut forms = vec![value.to_owned()];
        let json = serde_json::to_string(value).expect("a string serializes");
        forms.push(json[1..json.len() - 1].to_owned());
        let debug = format!("{value:?}");
        forms.push(debug[1..debug.len() - 1].to_owned());
        if value.contains('\n') {
            forms.extend(
                value
                    .lines()
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| l.len() >= MIN_LEN)
                    .map(str::to_owned),
            );
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if !values.contains(&form) {
                values.push(form);
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        true
    }

    /// [`register`](Self::register) a credential of a cloud (`what`: `the
    /// password of cloud `x``); one too short to scrub is still used, and
    /// the user is told once.
    pub fn register_credential(&self, value: &str, what: &str) {
        if self.register(value) {
            return;
        }
        let mut warned = self.warned.write().unwrap_or_else(|e| e.into_inner());
        if warned.insert(what.to_owned()) {
            drop(warned);
            self.stderr(&format!(
                "warning: {what} is shorter than {MIN_LEN} bytes: pipeline cannot keep it out of its messages\n"
            ));
        }
    }

    /// `text` with every registered value masked and every URL's userinfo
    /// removed.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let edits = self.edits(text);
        if edits.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(apply(text, &edits))
    }

    /// [`scrub`](Self::scrub) a source text and move `span` (a range of it)
    /// to the same place in the result, so that a diagnostic's underline
    /// still sits under what it points at (under the mask, when it pointed
    /// into a secret).
    pub fn scrub_with_span(&self, text: &str, span: Range<usize>) -> (String, Range<usize>) {
        let edits = self.edits(text);
        let moved = |offset: usize, end: bool| {
            let mut shift: isize = 0;
            for (range, replacement) in &edits {
                if range.end <= offset {
                    shift += replacement.len() as isize - range.len() as isize;
                } else if range.start < offset {
                    let start = (range.start as isize + shift) as usize;
                    return if end {
                        start + replacement.len()
                    } else {
                        start
                    };
                }
            }
            (offset as isize + shift) as usize
        };
        let span = moved(span.start, false)..moved(span.end, true);
        (apply(text, &edits), span)
    }

    /// Every string in a JSON value (and every key) scrubbed.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(scrubbed) = self.scrub(s) {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub_json(&mut v);
                    map.insert(self.scrub(&key).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// Rewrite a log file that another program wrote (QEMU's serial
    /// console) with its text scrubbed; best effort.
    pub fn scrub_file(&self, path: &camino::Utf8Path) {
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Cow::Owned(scrubbed) = self.scrub(&text) {
            let _ = std::fs::write(path, scrubbed);
        }
    }

    /// Write scrubbed text to stdout, as `print!` would (styles dropped
    /// where it is not a terminal), but never with a panic: a reader that
    /// has gone (`pipeline plan | head -1`) is no error, the text is dropped
    /// and the work goes on; any other failure is kept for
    /// [`stdout_failure`](Self::stdout_failure), which `main` reports.
    pub fn stdout(&self, text: &str) {
        match self.try_stdout(text) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                self.stdout_failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Why writing to stdout failed, if it did for another reason than a
    /// reader that has gone.
    pub fn stdout_failure(&self) -> Option<String> {
        self.stdout_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// [`stdout`](Self::stdout), leaving a failure to the caller.
    pub fn try_stdout(&self, text: &str) -> std::io::Result<()> {
        let mut out = anstream::stdout().lock();
        out.write_all(self.scrub(text).as_bytes())
            .and_then(|()| out.flush())
    }

    /// Write scrubbed text to stderr (styles dropped where it is not a
    /// terminal); a closed stderr must not stop a build.
    pub fn stderr(&self, text: &str) {
        let mut err = anstream::stderr().lock();
        let _ = err
            .write_all(self.scrub(text).as_bytes())
            .and_then(|()| err.flush());
    }

    /// Panic messages go through the scrubber too (a panic can quote any
    /// value it was handed).
    pub fn install_panic_hook() {
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            let mut text = format!("thread '{name}' {info}\n");
            let trace = std::backtrace::Backtrace::capture();
            if trace.status() == std::backtrace::BacktraceStatus::Captured {
                text.push_str(&format!("stack backtrace:\n{trace}\n"));
            }
            Scrubber::global().stderr(&text);
        }));
    }

    /// What to replace in `text`, in order, not overlapping.
    fn edits(&self, text: &str) -> Vec<(Range<usize>, &'static str)> {
        let mut found: Vec<(Range<usize>, &'static str)> =
            userinfo_ranges(text).into_iter().map(|r| (r, "")).collect();
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        for value in values.iter() {
            found.extend(
                text.match_indices(value.as_str())
                    .map(|(at, v)| (at..at + v.len(), MASK)),
            );
        }
        drop(values);
        // Earliest first, the longest of those that start together; what
        // overlaps an edit joins it.
        found.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
        let mut edits: Vec<(Range<usize>, &'static str)> = Vec::new();
        for (range, replacement) in found {
            match edits.last_mut() {
                Some((last, _)) if range.start < last.end => last.end = last.end.max(range.end),
                _ => edits.push((range, replacement)),
            }
        }
        edits
    }
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

fn apply(text: &str, edits: &[(Range<usize>, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, replacement) in edits {
        out.push_str(&text[at..range.start]);
        out.push_str(replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A URL without its userinfo, for messages and logs:
/// `https://user:pw@host:5000/v3` → `https://host:5000/v3`; also a proxy
/// written without a scheme (`user:pw@host:3128`).
pub fn without_userinfo(url: &str) -> String {
    let (prefix, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{prefix}{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The `user:password@` parts of the URLs in `text`.
fn userinfo_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    for (i, _) in text.match_indices("://") {
        // A scheme: letters, digits, `+`, `-`, `.`, starting with a letter.
        let scheme = text[..i]
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .next()
            .unwrap_or_default();
        if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let start = i + 3;
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || "/?#\"'`<>\\".contains(c))
            .map_or(text.len(), |e| start + e);
        if let Some(at) = text[start..end].rfind('@') {
            ranges.push(start..start + at + 1);
        }
    }
    ranges
}

/// `print!` through the process's [`Scrubber`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::Scrubber::global().stdout(&format!($($arg)*))
    };
}

/// `println!` through the process's [`Scrubber`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::Scrubber::global().stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` through the process's [`Scrubber`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::Scrubber::global().stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> Scrubber {
        let s = Scrubber::new();
        for v in values {
            assert!(s.register(v), "{v}");
        }
        s
    }

    #[test]
    fn masks_values_wherever_they_occur() {
        let s = with(&["hunter22", "hunter22-and-more"]);
        assert_eq!(s.scrub("pw=hunter22!"), "pw=********!");
        assert_eq!(s.scrub("xhunter22x"), "x********x");
        // The longer value is masked whole, not in part.
        assert_eq!(s.scrub("a hunter22-and-more b"), "a ******** b");
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_forms_and_lines_of_multi_line_values() {
        let s = with(&[
            "pw \"quoted\" \\ end",
            "-----BEGIN KEY-----\nAAAAbbbbCCCC\r\nab\n",
        ]);
        let json = serde_json::json!({"error": "bad pw \"quoted\" \\ end"}).to_string();
        assert_eq!(s.scrub(&json), r#"{"error":"bad ********"}"#);
        assert_eq!(
            s.scrub(&format!("{:?}", "x pw \"quoted\" \\ end")),
            r#""x ********""#
        );
        // Line by line: the long lines are masked, `ab` is too short to.
        assert_eq!(
            s.scrub("console: AAAAbbbbCCCC\nab"),
            "console: ********\nab"
        );
    }

    #[test]
    fn short_values_are_not_scrubbed() {
        let s = Scrubber::new();
        assert!(!s.register("abc"));
        assert!(s.register(""));
        assert_eq!(s.scrub("abc abc"), "abc abc");
        assert!(s.register("abcd"));
        assert_eq!(s.scrub("abcd"), MASK);
    }

    #[test]
    fn userinfo_is_removed_from_urls() {
        let s = Scrubber::new();
        assert_eq!(
            s.scrub("GET https://user:pw@host:5000/v3 and ftp://a@b, not me@example.com"),
            "GET https://host:5000/v3 and ftp://b, not me@example.com"
        );
        assert_eq!(
            s.scrub("url = \"http://u:p@h/x\"\n`http://h/a@b`"),
            "url = \"http://h/x\"\n`http://h/a@b`"
        );
        assert_eq!(s.scrub("://x@y and 1://z@w"), "://x@y and 1://z@w");
        assert_eq!(
            without_userinfo("http://u:p@h:3128/a@b"),
            "http://h:3128/a@b"
        );
        assert_eq!(without_userinfo("u:p@h:3128"), "h:3128");
        assert_eq!(without_userinfo("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn a_span_moves_with_the_text() {
        let s = with(&["s3cr3t-value"]);
        let text = "a = \"s3cr3t-value\"\nb = \"http://u:s3cr3t-value@h/\"\nc = 1\n";
        let c = text.find("c = 1").unwrap();
        let (scrubbed, span) = s.scrub_with_span(text, c..c + 5);
        assert_eq!(scrubbed, "a = \"********\"\nb = \"http://h/\"\nc = 1\n");
        assert_eq!(&scrubbed[span], "c = 1");
        // A span inside a secret covers its mask.
        let at = text.find("cr3t").unwrap();
        let (scrubbed, span) = s.scrub_with_span(text, at..at + 4);
        assert_eq!(&scrubbed[span], MASK);
    }

    #[test]
    fn json_strings_and_keys() {
        let s = with(&["topsecret"]);
        let mut v =
            serde_json::json!({"url": "https://u:topsecret@h/", "topsecret": ["x topsecret", 1]});
        s.scrub_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"url": "https://h/", "********": ["x ********", 1]})
        );
    }
}

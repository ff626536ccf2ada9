//! The checks of `validate` (in `crate::model`) that a JSON Schema can make
//! too, as the regular expressions the raw types' schema attributes use.
//!
//! Editors run these patterns, so they are written in the subset that
//! ECMA-262 (JSON Schema's dialect, unicode mode or not) and Rust's `regex`
//! (taplo's engine) read alike: no look-around, no back-references, `[0-9]`
//! rather than `\d`. Each accepts what the model accepts, so that the schema
//! never rejects a recipe that `validate` takes: the tests below hold them
//! to the real parsers with `regex`, and tests/cli/validate.rs holds the
//! shipped schema to `validate` with a real JSON Schema validator. (Python's
//! `re` also reads `$` as "before a final newline": a validator using it
//! would let a value with a trailing newline through, and reject nothing
//! more.)

/// Names that end up in file and image names: the recipe's name, the image
/// prefix, base and target names (`is_name` in the model).
pub const NAME: &str = "^[A-Za-z0-9._-]+$";

/// Matrix axis names: a lowercase letter, then lowercase letters, digits, `_`.
pub const AXIS_NAME: &str = "^[a-z][a-z0-9_]*$";

/// Template variables that an axis may not shadow (the model checks them
/// from here too).
pub const RESERVED_AXES: &[&str] = &[
    "image_name",
    "prefix",
    "arch",
    "disk_size",
    "cell",
    "vars",
    "services",
    "secret_names",
    "name",
];

/// Axes whose values are snap channels (the model checks them from here
/// too).
pub const CHANNEL_AXES: &[&str] = &["juju", "microk8s"];

/// A value of any other axis; `""` means "not set".
pub const AXIS_VALUE: &str = "^[A-Za-z0-9._/-]*$";

/// A snap channel `<track>/<risk>`, or `""` for "not installed". A track is
/// a name: letters and digits with single `.`, `-` or `_` between them.
pub const CHANNEL: &str = "^(?:[A-Za-z0-9](?:[._-]?[A-Za-z0-9])*/(?:stable|candidate|beta|edge))?$";

/// 64 hexadecimal digits, either case.
pub const SHA256: &str = "^[0-9A-Fa-f]{64}$";

/// What `Resource::parse` takes: an `http://`, `https://` or `file://` URL,
/// or a non-empty path in which no `://` names another scheme. The second
/// branch is "no `://` anywhere" spelled without look-ahead: blocks of a
/// non-colon, or of colons and `/:` pairs ended by at most one `/` and a
/// character that is neither, then such a block or a run of colons last.
pub const RESOURCE: &str =
    "^(?:(?:https?|file)://|(?:[^:]|:(?::|/:)*/?[^:/])*(?:[^:]|:(?::|/:)*/?[^:/]?)$)";

/// `services.proxy`: empty, or an `http://` or `https://` URL.
pub const PROXY: &str = "^(?:https?://|$)";

/// A byte size as `parse_size` (binary units) reads it: digits, where `_`
/// and spaces may appear anywhere, an optional fraction and exponent, then
/// an optional unit `K`…`E` (either case), an optional `i` and an optional
/// `B`. `2G`, `2GiB`, `2 GB` and `2048M` are all 2 GiB. (The model also
/// wants a minimum, which a pattern does not check.)
pub const SIZE: &str =
    "^[ _]*[0-9][0-9 _]*(?:\\.[0-9 _]*)?(?:[Ee][0-9 _+]*(?:-[0-9 _]*)?)?[KMGTPEkmgtpe]?[Ii]?[Bb]?$";

/// A duration as `humantime::parse_duration` reads it: one or more numbers
/// (optionally with a fraction) each followed by a unit, e.g. `30m`,
/// `1h 30m`, `1.5h`, `7days`. Whitespace may appear around and inside them.
pub const DURATION: &str = concat!(
    "^\\s*",
    "[0-9][0-9\\s]*(?:\\.\\s*[0-9][0-9\\s]*)?",
    "(?:nanos|nsec|ns|usec|us|\\u00b5s|millis|msec|ms|seconds|second|secs|sec|s",
    "|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w",
    "|months|month|M|years|year|yrs|yr|y)",
    "(?:\\s*[0-9][0-9\\s]*(?:\\.\\s*[0-9][0-9\\s]*)?",
    "(?:nanos|nsec|ns|usec|us|\\u00b5s|millis|msec|ms|seconds|second|secs|sec|s",
    "|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w",
    "|months|month|M|years|year|yrs|yr|y))*",
    "\\s*$"
);

/// A duration must be more than zero: some digit of it is not `0`.
pub const NONZERO: &str = "[1-9]";

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn re(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    /// Every string over `alphabet` up to `max` characters long.
    fn strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |c| {
                        let mut t = s.clone();
                        t.push(*c);
                        t
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    fn owned(cases: &[&str]) -> Vec<String> {
        cases.iter().map(|s| s.to_string()).collect()
    }

    /// The pattern and the parser agree on every string given. The parser
    /// says `None` where it stopped at a number too large (or too fine) for
    /// it, which no pattern checks: those strings are left out, and there
    /// must be few of them.
    fn agree(
        pattern: impl Fn(&str) -> bool,
        parser: impl Fn(&str) -> Option<bool>,
        cases: &[String],
    ) {
        let mut undecided = 0;
        let mut wrong = Vec::new();
        for s in cases {
            match parser(s) {
                None => undecided += 1,
                Some(accepted) if accepted != pattern(s) => {
                    wrong.push(format!("{s:?} (parser {accepted}, pattern {})", !accepted))
                }
                Some(_) => {}
            }
        }
        assert!(wrong.is_empty(), "disagree on:\n{}", wrong.join("\n"));
        assert!(
            undecided * 100 <= cases.len(),
            "{undecided} of {} undecided",
            cases.len()
        );
    }

    /// Whether `validate` takes it as a size (before the minimum).
    fn parse_size(s: &str) -> Option<bool> {
        match parse_size::Config::new().with_binary().parse_size(s) {
            Ok(_) => Some(true),
            Err(parse_size::Error::PosOverflow) => None,
            Err(_) => Some(false),
        }
    }

    #[test]
    fn size_matches_parse_size() {
        let table = owned(&[
            // accepted
            "20G",
            "20g",
            "20GiB",
            "20GB",
            "20 G",
            "20 GiB",
            "2048M",
            "1.5G",
            "0.5T",
            "1_000M",
            "1 000 M",
            "1e3M",
            "1E3M",
            "1e+3M",
            "1e-3T",
            "1.5e3M",
            "512",
            "512B",
            "1024K",
            "1KiB",
            "1kb",
            "1E",
            "1e",
            "1i",
            "1iB",
            "1.",
            "1.G",
            " 20G",
            "20G ",
            "_5_",
            "1eG",
            "4 t",
            "3P",
            "1e3-M",
            // rejected
            "",
            " ",
            "G",
            "GiB",
            "lots",
            "20 gigs",
            "20Gb of RAM",
            "two",
            "-1G",
            "+1G",
            ".5G",
            "1.5.5G",
            "1,5G",
            "20GG",
            "20Gi B",
            "20 G B",
            "20iG",
            "20X",
            "0x10M",
            "1e-+3M",
            "1e-3-3M",
            "20\tG",
            "20\nG",
            "20G\n",
            "\n20G",
            "20\u{ff27}",
            "\u{ff12}0G",
        ]);
        let pattern = re(SIZE);
        let pattern = |s: &str| pattern.is_match(s);
        agree(pattern, parse_size, &table);
        // Everything short over the characters that matter.
        let alphabet = ['1', '0', '.', 'e', '+', '-', ' ', '_', 'G', 'i', 'B', 'x'];
        agree(pattern, parse_size, &strings(&alphabet, 5));
    }

    /// Whether `validate` takes it: humantime reads it and it is not zero.
    /// humantime reports a number too large, a fraction of a nanosecond and
    /// one that does not come out in whole nanoseconds alike, as overflow.
    fn parse_duration(s: &str) -> Option<bool> {
        match humantime::parse_duration(s) {
            Ok(d) => Some(!d.is_zero()),
            Err(humantime::DurationError::NumberOverflow) => None,
            Err(_) => Some(false),
        }
    }

    #[test]
    fn duration_matches_humantime() {
        let table = owned(&[
            // accepted
            "30m",
            "45m",
            "2h",
            "7d",
            "1h 30m",
            "1h30m",
            "1.5h",
            "90s",
            "1 h",
            " 30m ",
            "1 0m",
            "1 .5h",
            "1. 5h",
            "10 m 5 s",
            "2weeks",
            "1week",
            "3months",
            "1M",
            "1y",
            "2yrs",
            "500ms",
            "10us",
            "10\u{b5}s",
            "10ns",
            "1nanos",
            "1millis",
            "1msec",
            "5sec",
            "5secs",
            "5second",
            "5seconds",
            "5min",
            "5mins",
            "5minute",
            "5minutes",
            "5hr",
            "5hrs",
            "5hour",
            "5hours",
            "5day",
            "5days",
            "5wk",
            "5wks",
            "5w",
            "5month",
            "5yr",
            "5year",
            "5years",
            "0.5s",
            "0h 1m",
            "30m\n",
            "\t30m",
            "00001s",
            "1\u{a0}h",
            // rejected
            "",
            " ",
            "0",
            "0s",
            "0m 0s",
            "0.0h",
            "forever",
            "soon",
            "30",
            "m",
            "30 minutes!",
            "1h, 30m",
            "30mm",
            "30 min utes",
            "-5m",
            "+5m",
            "5 m-",
            "1.h",
            "1.5.5h",
            "1h,30m",
            ".5h",
            "30M5",
            "5 M s",
            "1hour30",
            "10\u{3bc}s",
            "30 Minutes",
            "5 Days",
            "1d 1",
            "1d d",
            "3\u{ff10}m",
        ]);
        let (grammar, nonzero) = (re(DURATION), re(NONZERO));
        let pattern = |s: &str| grammar.is_match(s) && nonzero.is_match(s);
        agree(pattern, parse_duration, &table);
        let alphabet = ['1', '0', '.', ' ', 'm', 's', 'h', 'M', 'x'];
        agree(pattern, parse_duration, &strings(&alphabet, 5));
    }

    #[test]
    fn channel_matches_check_channel() {
        let mut table = owned(&[
            "",
            "3.1/stable",
            "2.9/stable",
            "1.28-strict/stable",
            "1.29-strict/edge",
            "latest/beta",
            "latest/candidate",
            "3_x/edge",
            "../stable",
            "-1/stable",
            "1-/stable",
            "1.-2/stable",
            "3.1",
            "latest",
            "3.1/",
            "/stable",
            "3.1/stabel",
            "3.1/Stable",
            "3.1/stable/x",
            "3.1/stable/hotfix",
            "a b/stable",
            "3.1/stable\n",
            "é/stable",
        ]);
        table.extend(strings(&['1', '.', '-', '/', 'a'], 5));
        let pattern = re(CHANNEL);
        agree(
            |s| pattern.is_match(s),
            |s| Some(crate::model::check_channel(s).is_ok()),
            &table,
        );
    }

    /// `Resource::parse`, which needs a directory for relative paths.
    fn resource(s: &str) -> Option<bool> {
        Some(crate::model::Resource::parse(s, camino::Utf8Path::new("/r")).is_ok())
    }

    #[test]
    fn resource_matches_resource_parse() {
        let mut table = owned(&[
            "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
            "http://mirror/x.img",
            "file:///srv/images/x.qcow2",
            "file://",
            "demo-base/debian-cloud.qcow2",
            "../images/x.img",
            "/abs/x.img",
            "C:x",
            "a:b/c",
            "x:/y",
            "x:",
            "x:/",
            ":",
            "ftp://mirror/x.img",
            "s3://bucket/x.img",
            "HTTPS://x/y",
            "Https://x/y",
            "dir/ftp://x",
            "://x",
            "",
            "a\n://b",
            "https://x\ny",
        ]);
        table.extend(strings(&[':', '/', 'a'], 7));
        let pattern = re(RESOURCE);
        agree(|s| pattern.is_match(s), resource, &table);
    }

    /// The model's checks that are not exported, restated from
    /// `crate::model::recipe`; the CLI tests check them end to end.
    #[test]
    fn names_axes_and_values() {
        let names = re(NAME);
        for ok in ["demo", "github-runner", "prod.east_2", "A1"] {
            assert!(names.is_match(ok), "{ok}");
        }
        for bad in ["", "my image", "a/b", "é", "x\n", "a:b"] {
            assert!(!names.is_match(bad), "{bad:?}");
        }
        let axes = re(AXIS_NAME);
        for ok in ["base", "juju", "microk8s", "x", "gpu_2"] {
            assert!(axes.is_match(ok), "{ok}");
        }
        for bad in ["", "Flavour", "2x", "_x", "gpu-type", "gpu type", "x\n"] {
            assert!(!axes.is_match(bad), "{bad:?}");
        }
        let values = re(AXIS_VALUE);
        for ok in ["", "small", "gpu/large", "1.29-strict/stable", "a_b"] {
            assert!(values.is_match(ok), "{ok}");
        }
        for bad in ["gpu large", "a:b", "ü", "x\n"] {
            assert!(!values.is_match(bad), "{bad:?}");
        }
        let sha = re(SHA256);
        assert!(sha.is_match(&"aB3".repeat(21).chars().chain(['0']).collect::<String>()));
        assert!(!sha.is_match(&"a".repeat(63)));
        assert!(!sha.is_match(&"a".repeat(65)));
        assert!(!sha.is_match(&format!("{}\n", "a".repeat(64))));
        assert!(!sha.is_match(&"g".repeat(64)));
        let proxy = re(PROXY);
        for ok in ["", "http://proxy:3128", "https://proxy"] {
            assert!(proxy.is_match(ok), "{ok}");
        }
        for bad in [
            "proxy:3128",
            "socks5://p",
            " http://p",
            "\nhttp://p",
            "HTTP://p",
        ] {
            assert!(!proxy.is_match(bad), "{bad:?}");
        }
    }
}

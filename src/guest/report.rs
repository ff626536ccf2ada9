//! The guest's result lines, read as they arrive: only lines with the
//! boot's nonce count, the first of each kind wins, and nothing after the
//! final line counts (a process the wrapper left behind cannot change the
//! verdict). Bounded: a guest that floods its result port leaves at most
//! [`MAX_LINES`] check lines of at most [`MAX_LINE`] bytes, and one result
//! line of each kind.

use super::{CheckLine, GuestResult, Purpose, parse_checks, parse_result};

/// Check lines kept (a verify boot reports one line per check).
pub const MAX_LINES: usize = 1000;
/// Longest result line kept; a longer one is not a result line.
pub const MAX_LINE: usize = 1024;

#[derive(Debug, Clone)]
pub struct Report {
    nonce: String,
    purpose: Purpose,
    lines: Vec<String>,
    /// `PIPELINE_CHECK` lines kept.
    checks: usize,
    /// The start of a line whose end has not arrived.
    partial: Vec<u8>,
    /// `partial` went past [`MAX_LINE`]: the rest of that line is dropped.
    overlong: bool,
    done: bool,
}

impl Report {
    pub fn new(nonce: &str, purpose: Purpose) -> Self {
        Self {
            nonce: nonce.to_owned(),
            purpose,
            lines: Vec::new(),
            checks: 0,
            partial: Vec::new(),
            overlong: false,
            done: false,
        }
    }

    /// Bytes as the guest wrote them (any chunking).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !self.done && !bytes.is_empty() {
            let (part, rest, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(nl) => (&bytes[..nl], &bytes[nl + 1..], true),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            if !self.overlong {
                let room = MAX_LINE.saturating_sub(self.partial.len());
                self.partial.extend_from_slice(&part[..part.len().min(room)]);
                self.overlong = part.len() > room;
            }
            if ended {
                let line = std::mem::take(&mut self.partial);
                if !std::mem::take(&mut self.overlong) {
                    self.line(&String::from_utf8_lossy(&line));
                }
            }
        }
    }

    fn line(&mut self, line: &str) {
        let line = line.trim_end_matches(['\r', ' ', '\t']);
        let ours = |prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(self.nonce.as_str()))
                .and_then(|rest| rest.strip_prefix(' '))
        };
        if let Some(rest) = ours("PIPELINE_CHECK ") {
            if self.checks < MAX_LINES && !rest.is_empty() {
                self.checks += 1;
                self.lines.push(line.to_owned());
            }
            return;
        }
        let Some(key) = ours("PIPELINE_RESULT ").and_then(|rest| rest.split_once('=')) else {
            return;
        };
        let seen = self.result();
        let new = match key.0 {
            "script" => seen.script.is_none(),
            "clean" => seen.clean.is_none(),
            "checks" => seen.checks.is_none(),
            _ => false,
        };
        if !new {
            return;
        }
        self.lines.push(line.to_owned());
        let result = self.result();
        self.done = match self.purpose {
            Purpose::Build => result.clean.is_some() || result.script.is_some_and(|s| s != 0),
            Purpose::Verify => result.script.is_some(),
        };
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The guest gave its final line.
    pub fn is_final(&self) -> bool {
        self.done
    }

    pub fn result(&self) -> GuestResult {
        parse_result(&self.text(), &self.nonce)
    }

    pub fn checks(&self) -> Vec<CheckLine> {
        parse_checks(&self.text(), &self.nonce)
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(purpose: Purpose, chunks: &[&[u8]]) -> Report {
        let mut r = Report::new("n1", purpose);
        for c in chunks {
            r.feed(c);
        }
        r
    }

    #[test]
    fn lines_may_arrive_in_any_chunks() {
        let r = fed(
            Purpose::Build,
            &[b"noise\nPIPELINE_RES", b"ULT n1 script=0\nPIPELINE_RESULT n1 cl", b"ean=0\n"],
        );
        assert!(r.is_final());
        assert_eq!((r.result().script, r.result().clean), (Some(0), Some(0)));
    }

    #[test]
    fn nothing_after_the_final_line_counts() {
        // A process left running by the script writes a success after the
        // wrapper reported the failure.
        let r = fed(
            Purpose::Build,
            &[b"PIPELINE_RESULT n1 script=3\nPIPELINE_RESULT n1 script=0\nPIPELINE_RESULT n1 clean=0\n"],
        );
        assert!(r.is_final());
        assert_eq!((r.result().script, r.result().clean), (Some(3), None));
        let r = fed(
            Purpose::Verify,
            &[b"PIPELINE_CHECK n1 fail x\nPIPELINE_RESULT n1 checks=1\nPIPELINE_RESULT n1 script=0\nPIPELINE_CHECK n1 ok y\nPIPELINE_RESULT n1 checks=0\n"],
        );
        assert_eq!(r.result().checks, Some(1));
        assert_eq!(r.checks().len(), 1);
    }

    #[test]
    fn a_build_is_final_only_after_clean_or_a_failed_script() {
        let r = fed(Purpose::Build, &[b"PIPELINE_RESULT n1 script=0\n"]);
        assert!(!r.is_final());
        let r = fed(Purpose::Verify, &[b"PIPELINE_RESULT n1 checks=0\n"]);
        assert!(!r.is_final());
    }

    #[test]
    fn other_nonces_and_floods_are_bounded() {
        let mut r = Report::new("n1", Purpose::Verify);
        r.feed(b"PIPELINE_RESULT n0 script=0\nPIPELINE_RESULT n12 script=0\n");
        assert!(!r.is_final());
        // A line far past the limit, then many lines: neither grows memory.
        r.feed(&vec![b'x'; 10 * MAX_LINE]);
        r.feed(b" PIPELINE_RESULT n1 script=0\n");
        assert!(!r.is_final(), "the tail of an overlong line is not a line");
        for _ in 0..(2 * MAX_LINES) {
            r.feed(b"PIPELINE_CHECK n1 ok x\n");
        }
        assert_eq!(r.lines.len(), MAX_LINES);
        assert!(r.partial.len() <= MAX_LINE);
    }
}

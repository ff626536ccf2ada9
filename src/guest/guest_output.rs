//! What a guest prints while it boots, kept within bounds: its console in
//! a log file (the first [`LOG_HEAD`] bytes, then, once the boot ends, a
//! line saying how much was cut and the last [`TAIL`] bytes), the console's
//! tail in memory for errors, its last line for the live view, and its
//! result lines ([`Report`]). Lines reach the log scrubbed. The console and
//! the result lines may come in through different channels (a QEMU serial
//! port and a virtio-serial port) or one (a cloud's console).

use super::{Purpose, Report, console_tail};
use crate::host::process::strip_controls;
use crate::output::Scrubber;
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// Console bytes written to the log before it is cut.
pub const LOG_HEAD: u64 = 8 << 20;
/// Console bytes kept in memory: the tail errors quote and the log ends with.
pub const TAIL: usize = 256 << 10;
/// Longest console line written as one; a longer one is split.
const MAX_LINE: usize = 4096;

/// Where the result lines come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFrom {
    /// A channel of their own ([`GuestOutput::report`]).
    Port,
    /// The console (a cloud's server has no other channel).
    Console,
}

pub struct GuestOutput {
    inner: Mutex<Inner>,
}

struct Inner {
    log_path: Utf8PathBuf,
    log: Option<std::fs::File>,
    /// Console bytes written to the log, and left out of it.
    logged: u64,
    cut: u64,
    tail: VecDeque<u8>,
    partial: Vec<u8>,
    last_line: Option<String>,
    report: Report,
    from: ReportFrom,
}

impl GuestOutput {
    /// Output of a boot with `nonce`, its console logged at `log` (made
    /// anew). A log that cannot be written is not kept; nothing else is
    /// lost.
    pub fn new(log: &Utf8Path, nonce: &str, purpose: Purpose, from: ReportFrom) -> Self {
        Self {
            inner: Mutex::new(Inner {
                log_path: log.to_owned(),
                log: std::fs::File::create(log).ok(),
                logged: 0,
                cut: 0,
                tail: VecDeque::new(),
                partial: Vec::new(),
                last_line: None,
                report: Report::new(nonce, purpose),
                from,
            }),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A reader thread that panicked left whole lines behind it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Console bytes, as they arrive.
    pub fn console(&self, bytes: &[u8]) {
        let mut inner = self.inner();
        if inner.from == ReportFrom::Console {
            inner.report.feed(bytes);
        }
        inner.tail.extend(bytes);
        let excess = inner.tail.len().saturating_sub(TAIL);
        inner.tail.drain(..excess);
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            inner.partial.extend_from_slice(chunk);
            if chunk.ends_with(b"\n") || inner.partial.len() >= MAX_LINE {
                inner.line();
            }
        }
    }

    /// Result-port bytes, as they arrive.
    pub fn report(&self, bytes: &[u8]) {
        self.inner().report.feed(bytes);
    }

    /// The guest gave its final result line.
    pub fn is_final(&self) -> bool {
        self.inner().report.is_final()
    }

    /// The result lines so far, as a copy: judging them reads the console
    /// tail ([`GuestOutput::tail`]), which takes the lock again.
    pub fn report_so_far(&self) -> Report {
        self.inner().report.clone()
    }

    /// The last line the console showed, when it changed since asked.
    pub fn new_last_line(&self) -> Option<String> {
        self.inner().last_line.take()
    }

    /// The console lines that explain a failure (see [`console_tail`]),
    /// scrubbed.
    pub fn tail(&self) -> String {
        let inner = self.inner();
        let (a, b) = inner.tail.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        let nonce = inner.report.nonce().to_owned();
        drop(inner);
        Scrubber::global()
            .scrub(&console_tail(&text, &nonce))
            .into_owned()
    }

    /// The boot started again from nothing (another accelerator): what it
    /// printed so far is void.
    pub fn restart(&self) {
        let mut inner = self.inner();
        let fresh = GuestOutput::new(
            &inner.log_path.clone(),
            inner.report.nonce(),
            inner.report.purpose(),
            inner.from,
        );
        *inner = fresh.inner.into_inner().unwrap_or_else(|e| e.into_inner());
    }

    /// The boot is over: the log gets its last partial line and, when it
    /// was cut, how much and the console's last bytes.
    pub fn finish(&self) {
        let mut inner = self.inner();
        if !inner.partial.is_empty() {
            inner.line();
        }
        if inner.cut == 0 {
            return;
        }
        let (a, b) = inner.tail.as_slices();
        let tail = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        // From the first whole line of the tail.
        let tail = tail.split_once('\n').map_or("", |(_, rest)| rest).to_owned();
        let note = format!(
            "\n[pipeline: the console printed {} bytes more than the {} MiB kept here; its last {} KiB follow]\n",
            inner.cut,
            LOG_HEAD >> 20,
            TAIL >> 10
        );
        let scrubbed = Scrubber::global().scrub(&tail).into_owned();
        inner.cut = 0;
        if let Some(log) = inner.log.as_mut() {
            let _ = log.write_all(note.as_bytes());
            let _ = log.write_all(scrubbed.as_bytes());
        }
    }
}

impl Inner {
    /// `partial` is a whole line (or as much of one as is written at once).
    fn line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        let text = String::from_utf8_lossy(&line);
        let shown = strip_controls(text.trim_end());
        if !shown.trim().is_empty() {
            self.last_line = Some(Scrubber::global().scrub(shown.trim()).into_owned());
        }
        if self.logged + line.len() as u64 > LOG_HEAD {
            self.cut += line.len() as u64;
            return;
        }
        self.logged += line.len() as u64;
        if let Some(log) = self.log.as_mut() {
            let _ = log.write_all(Scrubber::global().scrub(&text).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(dir: &tempfile::TempDir, from: ReportFrom) -> (GuestOutput, Utf8PathBuf) {
        let log = Utf8PathBuf::from_path_buf(dir.path().join("console.log")).unwrap();
        (GuestOutput::new(&log, "n1", Purpose::Build, from), log)
    }

    #[test]
    fn a_flood_is_cut_on_disk_and_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (out, log) = output(&dir, ReportFrom::Port);
        let line = format!("{}\n", "x".repeat(1000));
        for _ in 0..20_000 {
            out.console(line.as_bytes());
        }
        out.console(b"the end\n");
        out.finish();
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(size <= LOG_HEAD + TAIL as u64 + 1024, "{size}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("[pipeline: the console printed"), "no cut note");
        assert!(text.ends_with("the end\n"));
        assert!(out.inner().tail.len() <= TAIL);
        assert_eq!(out.new_last_line().as_deref(), Some("the end"));
        assert_eq!(out.new_last_line(), None, "only when it changed");
    }

    #[test]
    fn results_come_from_the_port_or_the_console() {
        let dir = tempfile::tempdir().unwrap();
        let done = b"PIPELINE_RESULT n1 script=4\n";
        let (port, _) = output(&dir, ReportFrom::Port);
        port.console(done);
        assert!(!port.is_final(), "the console is not the port");
        port.report(done);
        assert!(port.is_final());
        let (console, _) = output(&dir, ReportFrom::Console);
        console.console(done);
        assert!(console.is_final());
        assert!(console.tail().ends_with("script=4"), "{}", console.tail());
    }

    #[test]
    fn a_restart_forgets_the_first_boot() {
        let dir = tempfile::tempdir().unwrap();
        let (out, log) = output(&dir, ReportFrom::Console);
        out.console(b"first boot\nPIPELINE_RESULT n1 script=1\n");
        out.restart();
        assert!(!out.is_final());
        out.console(b"second boot\n");
        out.finish();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "second boot\n");
    }
}

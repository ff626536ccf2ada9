//! External processes (qemu-system, qemu-img) run in their own process group,
//! die with the thread that started them (PR_SET_PDEATHSIG), and are
//! registered so that an interrupt can kill every one of them at once: no
//! `qemu-system` may outlive the tool.

use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::Utf8Path;
use rustix::process::{Pid, Signal};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kill every registered process group (on Ctrl-C / SIGTERM). Safe to call
/// from any thread, any number of times.
pub fn kill_all() {
    let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for pgid in groups {
        kill_group(pgid);
    }
}

fn kill_group(pgid: i32) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// An expression that starts in a new process group and is killed if the
/// spawning thread dies.
pub fn command(program: &str, args: &[String]) -> duct::Expression {
    duct::cmd(program, args).before_spawn(|cmd| {
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        Ok(())
    })
}

/// A started process group. Dropping it kills the group: a step that
/// returns early (error, panic, cancellation) never leaves its VM behind.
pub struct Running {
    handle: duct::Handle,
    pgid: i32,
    program: String,
}

impl Running {
    pub fn start(expr: &duct::Expression, program: &str) -> StepResult<Running> {
        let handle = expr
            .unchecked()
            .start()
            .map_err(|e| StepError::permanent(format!("failed to start {program}: {e}")))?;
        let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
        GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pgid);
        Ok(Running {
            handle,
            pgid,
            program: program.to_owned(),
        })
    }

    /// Wait up to `period` for the process to exit.
    pub fn poll(&self, period: Duration) -> StepResult<Option<std::process::ExitStatus>> {
        match self.handle.wait_timeout(period) {
            Ok(output) => Ok(output.map(|o| o.status)),
            Err(e) => Err(StepError::permanent(format!(
                "failed to wait for {}: {e}",
                self.program
            ))),
        }
    }

    /// Wait for exit, polling `cancel`; kill the group at `timeout`.
    pub fn wait(&self, timeout: Option<Duration>, cancel: &CancelToken) -> StepResult<Exit> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.poll(Duration::from_millis(200))? {
                return Ok(Exit {
                    code: status.code(),
                    elapsed: start.elapsed(),
                });
            }
            if cancel.is_cancelled() {
                self.kill();
                return Err(StepError::cancelled());
            }
            if let Some(timeout) = timeout
                && start.elapsed() >= timeout
            {
                self.kill();
                return Err(StepError::permanent(format!(
                    "{} timed out after {} and was killed",
                    self.program,
                    humantime::format_duration(Duration::from_secs(timeout.as_secs()))
                )));
            }
        }
    }

    pub fn kill(&self) {
        kill_group(self.pgid);
        let _ = self.handle.kill();
        let _ = self.handle.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.handle.try_wait() {
            self.kill();
        }
        GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.pgid);
    }
}

/// Live (not zombie) processes in process group `pgid`, from /proc.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            pids.push(pid);
        }
    }
    pids
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub elapsed: Duration,
}

/// `program` with `args`, its stdout and stderr appended to `log` after a
/// line with the command; also where its output starts in `log`.
pub fn logged_command(
    program: &str,
    args: &[String],
    log: &Utf8Path,
) -> StepResult<(duct::Expression, u64)> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| StepError::io(format!("failed to open {log}"), &e))?;
    let line = format!("$ {program} {}", args.join(" "));
    let _ = writeln!(file, "{}", crate::output::Scrubber::global().scrub(&line));
    let start_offset = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Outer redirections apply first in duct: join stderr to stdout, then
    // point stdout at the log.
    let expr = command(program, args)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_file(file);
    Ok((expr, start_offset))
}

/// Run a tool to completion with stdout and stderr appended to `log`; a
/// non-zero exit fails with the tail of the log in the message.
pub fn run_logged(
    program: &str,
    args: &[String],
    log: &Utf8Path,
    timeout: Option<Duration>,
    cancel: &CancelToken,
) -> StepResult<()> {
    let (expr, start_offset) = logged_command(program, args, log)?;
    let running = Running::start(&expr, program)?;
    let exit = running.wait(timeout, cancel)?;
    match exit.code {
        Some(0) => Ok(()),
        code => {
            let tail = tail_from(log, start_offset, 10);
            let status = code.map_or("was killed".to_owned(), |c| format!("exited with {c}"));
            Err(StepError::permanent(format!(
                "{program} {status}: {}",
                tail.trim()
            )))
        }
    }
}

/// The last `lines` lines of a file written after `offset`.
pub fn tail_from(path: &Utf8Path, offset: u64, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        // Read at most the last 64 KiB: enough for any tail we show.
        let from = offset.max(len.saturating_sub(64 * 1024));
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    last_lines(&text, lines)
}

/// The last `n` non-empty lines, with terminal control sequences removed.
/// The first non-empty line of `text`, trimmed.
pub fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

pub fn last_lines(text: &str, n: usize) -> String {
    let clean: String = strip_controls(text);
    let lines: Vec<&str> = clean
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Remove ANSI escape sequences and other control characters (a guest
/// console is full of them), keeping newlines and tabs.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params final-byte; other escapes: ESC + one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ansi_and_keeps_the_last_lines() {
        let text = "a\r\n\u{1b}[0;32m  OK  \u{1b}[0m b\n\n c\n";
        assert_eq!(last_lines(text, 2), "  OK   b\n c");
    }

    #[test]
    fn a_killed_group_takes_its_children_with_it() {
        let cancel = CancelToken::new();
        // sh starts a grandchild; killing the group must kill both.
        let expr =
            command("sh", &["-c".into(), "sleep 30 & echo $! ; wait".into()]).stdout_capture();
        let running = Running::start(&expr, "sh").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let pgid = running.pgid;
        let err = running
            .wait(Some(Duration::from_millis(300)), &cancel)
            .unwrap_err();
        assert!(err.message.contains("timed out"), "{err}");
        drop(running);
        // No live process of the group is left (a zombie waiting for an
        // init that does not reap is not alive).
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(live_group_members(pgid), Vec::<i32>::new());
    }

    #[test]
    fn run_logged_reports_the_tail_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = camino::Utf8PathBuf::from_path_buf(dir.path().join("x.log")).unwrap();
        let err = run_logged(
            "sh",
            &["-c".into(), "echo one; echo two >&2; exit 3".into()],
            &log,
            None,
            &CancelToken::new(),
        )
        .unwrap_err();
        assert_eq!(err.message, "sh exited with 3: one\ntwo");
    }
}

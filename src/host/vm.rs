//! A QEMU process watched while it runs. The process exiting is one way a
//! boot ends; the others are a guest that QEMU stopped while it stays alive
//! (a KVM internal error, a full disk: QMP's run state says so), a timeout
//! and an interrupt. None of them may leave the process behind.

use super::process::{self, Exit, Running};
use super::qmp::Qmp;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Longest QEMU may take to open the sockets of its character devices.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the guest's run state is asked for.
const STATUS_EVERY: Duration = Duration::from_millis(500);
/// What QEMU prints when KVM cannot run the guest.
pub const KVM_ERROR: &str = "KVM internal error";

/// How a VM's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmEnd {
    /// QEMU exited by itself.
    Exited(Exit),
    /// The guest stopped while QEMU stayed up; QMP's run state
    /// (`internal-error`, `io-error`, `guest-panicked`, …). QEMU was killed.
    Stopped(String),
    /// The timeout passed; QEMU was killed.
    TimedOut,
}

impl VmEnd {
    /// KVM failed to run the guest: it is the accelerator, not the image.
    pub fn is_accelerator_fault(&self) -> bool {
        matches!(self, VmEnd::Stopped(status) if status == "internal-error")
    }
}

pub struct Vm {
    running: Running,
    /// When it started, for [`Exit::elapsed`].
    started: Instant,
    next_status: Instant,
    program: String,
    /// QMP's socket lives in a short private directory: socket paths are
    /// limited to 107 bytes, and run directories can be deeper than that.
    qmp_dir: tempfile::TempDir,
    qmp: Option<Qmp>,
    /// The log QEMU's stdout and stderr are appended to, and where this
    /// VM's part of it starts.
    log: Utf8PathBuf,
    log_from: u64,
}

impl Vm {
    /// Start `program` with `args` plus a QMP socket; its output is
    /// appended to `log` after a line with the command.
    pub fn start(program: &str, args: &[String], log: &Utf8Path) -> StepResult<Vm> {
        Ok(Self::start_with(program, args, log, &[])?.0)
    }

    /// [`Vm::start`], with a character device per name of `chardevs`: a
    /// socket that QEMU waits on before the guest starts (so that nothing
    /// the guest writes is lost) and whose other end is returned, in order;
    /// fewer when QEMU says KVM stopped the guest before it opened them all
    /// (the next [`Vm::check`] tells it).
    /// The arguments refer to them by name (`-serial chardev:NAME`). What
    /// the guest writes is read from them as it comes: nothing is written to
    /// disk that pipeline does not bound.
    pub fn start_with(
        program: &str,
        args: &[String],
        log: &Utf8Path,
        chardevs: &[&str],
    ) -> StepResult<(Vm, Vec<UnixStream>)> {
        let qmp_dir = tempfile::Builder::new()
            .prefix("pipeline-qmp-")
            .tempdir_in(short_temp_dir())
            .map_err(|e| StepError::io("failed to create a directory for QMP", &e))?;
        let socket = qmp_dir.path().join("qmp.sock");
        let mut args = args.to_vec();
        for name in chardevs {
            args.push("-chardev".into());
            args.push(format!(
                "socket,id={name},path={},server=on,wait=on",
                qmp_dir.path().join(format!("{name}.sock")).display()
            ));
        }
        args.push("-qmp".into());
        args.push(format!("unix:{},server=on,wait=off", socket.display()));
        let (expr, log_from) = process::logged_command(program, &args, log)?;
        let running = Running::start(&expr, program)?;
        let mut vm = Vm {
            running,
            started: Instant::now(),
            next_status: Instant::now(),
            program: program.to_owned(),
            qmp_dir,
            qmp: None,
            log: log.to_owned(),
            log_from,
        };
        let mut streams = Vec::new();
        for name in chardevs {
            let path = vm.qmp_dir.path().join(format!("{name}.sock"));
            match vm.connect(&path)? {
                Some(stream) => streams.push(stream),
                None => break,
            }
        }
        vm.started = Instant::now();
        Ok((vm, streams))
    }

    /// Connect to a socket QEMU listens on, once it does; `None` if QEMU
    /// said first that KVM stopped the guest.
    fn connect(&mut self, path: &std::path::Path) -> StepResult<Option<UnixStream>> {
        let start = Instant::now();
        loop {
            if let Ok(stream) = UnixStream::connect(path) {
                return Ok(Some(stream));
            }
            if self.output().contains(KVM_ERROR) {
                return Ok(None);
            }
            if let Some(status) = self.running.poll(Duration::from_millis(20))? {
                return Err(StepError::permanent(format!(
                    "{} exited with {} before it started the guest: {}",
                    self.program,
                    status
                        .code()
                        .map_or("a signal".to_owned(), |c| c.to_string()),
                    self.output_tail(5)
                )));
            }
            if start.elapsed() > CONNECT_TIMEOUT {
                self.running.kill();
                return Err(StepError::permanent(format!(
                    "{} did not open {} within {} s",
                    self.program,
                    path.display(),
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
    }

    /// How the VM is now, without waiting: `None` while it runs. A guest
    /// that QEMU stopped is killed.
    pub fn check(&mut self) -> StepResult<Option<VmEnd>> {
        if let Some(status) = self.running.poll(Duration::ZERO)? {
            return Ok(Some(VmEnd::Exited(Exit {
                code: status.code(),
                elapsed: self.started.elapsed(),
            })));
        }
        // The message is on stderr at once; QMP confirms it within
        // STATUS_EVERY. Either is enough.
        if self.output().contains(KVM_ERROR) {
            self.running.kill();
            return Ok(Some(VmEnd::Stopped("internal-error".into())));
        }
        if Instant::now() >= self.next_status {
            self.next_status = Instant::now() + STATUS_EVERY;
            if let Some(status) = self.status()
                && !alive(&status)
            {
                self.running.kill();
                return Ok(Some(VmEnd::Stopped(status)));
            }
        }
        Ok(None)
    }

    /// Wait until QEMU exits, its guest stops, `timeout` passes or the run
    /// is cancelled; in every case but the first, QEMU is killed.
    pub fn wait(&mut self, timeout: Duration, cancel: &CancelToken) -> StepResult<VmEnd> {
        let start = Instant::now();
        loop {
            if let Some(end) = self.check()? {
                return Ok(end);
            }
            if cancel.is_cancelled() {
                self.kill();
                return Err(StepError::cancelled());
            }
            if start.elapsed() >= timeout {
                self.kill();
                return Ok(VmEnd::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill QEMU (and wait for it), whatever its state.
    pub fn kill(&mut self) {
        self.running.kill();
    }

    /// The guest's run state, when QMP answers (it does not before QEMU
    /// has set up the socket, nor after it exits).
    fn status(&mut self) -> Option<String> {
        if self.qmp.is_none() {
            let socket = self.qmp_dir.path().join("qmp.sock");
            self.qmp = Qmp::connect(&socket, Duration::from_secs(2)).ok();
        }
        match self.qmp.as_mut()?.status() {
            Ok(status) => Some(status),
            Err(_) => {
                self.qmp = None;
                None
            }
        }
    }

    /// What QEMU printed so far (this VM's part of the log).
    pub fn output(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let from = (self.log_from as usize).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    }

    /// The last `lines` lines QEMU printed.
    pub fn output_tail(&self, lines: usize) -> String {
        process::last_lines(&self.output(), lines)
    }

    pub fn program(&self) -> &str {
        &self.program
    }
}

/// Run states in which the guest goes on (or is about to start or end).
fn alive(status: &str) -> bool {
    matches!(
        status,
        "running" | "prelaunch" | "shutdown" | "finish-migrate" | "inmigrate" | "postmigrate"
    )
}

fn short_temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir();
    if dir.as_os_str().len() <= 64 {
        dir
    } else {
        "/tmp".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_kvm_internal_error_is_the_accelerator() {
        assert!(VmEnd::Stopped("internal-error".into()).is_accelerator_fault());
        assert!(!VmEnd::Stopped("io-error".into()).is_accelerator_fault());
        assert!(!VmEnd::TimedOut.is_accelerator_fault());
    }

    /// A disk whose boot sector reports a panic on the pvpanic port: with
    /// `-action panic=pause` QEMU stops the guest and stays up, as it does
    /// on a KVM internal error.
    fn panicking_disk(dir: &std::path::Path) -> String {
        let code = [
            0xba, 0x05, 0x05, // mov dx, 0x505
            0xb0, 0x01, // mov al, 1 (guest panicked)
            0xee, // out dx, al
            0xf4, // hlt
            0xeb, 0xfd, // jmp (back to hlt)
        ];
        let mut disk = vec![0u8; 1 << 20];
        disk[..code.len()].copy_from_slice(&code);
        disk[510] = 0x55;
        disk[511] = 0xaa;
        let path = dir.join("panic.img");
        std::fs::write(&path, disk).unwrap();
        path.display().to_string()
    }

    /// A small TCG VM with `extra` arguments, its log in `dir`.
    fn small_vm(dir: &std::path::Path, extra: &[String]) -> Vm {
        let log = camino::Utf8PathBuf::from_path_buf(dir.join("qemu.log")).unwrap();
        let mut args: Vec<String> = [
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-m",
            "32",
            "-nodefaults",
            "-display",
            "none",
        ]
        .map(String::from)
        .to_vec();
        args.extend_from_slice(extra);
        Vm::start("qemu-system-x86_64", &args, &log).unwrap()
    }

    #[test]
    fn a_guest_that_qemu_stops_is_noticed_and_killed() {
        let dir = tempfile::tempdir().unwrap();
        let disk = panicking_disk(dir.path());
        let mut vm = small_vm(
            dir.path(),
            &[
                "-device".into(),
                "pvpanic".into(),
                "-action".into(),
                "panic=pause".into(),
                "-drive".into(),
                format!("file={disk},format=raw,if=virtio"),
            ],
        );
        let started = Instant::now();
        let end = vm
            .wait(Duration::from_secs(60), &CancelToken::new())
            .unwrap();
        assert_eq!(end, VmEnd::Stopped("guest-panicked".into()));
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(!end.is_accelerator_fault());
        assert!(
            vm.running.poll(Duration::from_secs(5)).unwrap().is_some(),
            "QEMU was killed"
        );
    }

    #[test]
    fn a_guest_that_never_starts_runs_into_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // `-S`: QEMU waits in `prelaunch` for a `cont` that never comes.
        let mut vm = small_vm(dir.path(), &["-S".into()]);
        let end = vm
            .wait(Duration::from_secs(2), &CancelToken::new())
            .unwrap();
        assert_eq!(end, VmEnd::TimedOut);
        assert!(vm.running.poll(Duration::from_secs(5)).unwrap().is_some());
    }
}

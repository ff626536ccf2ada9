//! The boot step: a qcow2 overlay backed by the cached base (no copy), grown
//! to the disk size, booted in QEMU until the guest powers off. The guest's
//! result comes back on a virtio-serial port; a failed script, a missing
//! report or a timeout fails the cell with the last console lines.

use super::render::{GuestResult, parse_result};
use crate::cancel::CancelToken;
use crate::host::accel::Accel;
use crate::host::process::{self, Running};
use crate::host::qemu::{self, BootSpec};
use crate::model::{Arch, Secrets};
use crate::step_error::{StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::time::Duration;

/// Console lines quoted in an error.
const CONSOLE_TAIL: usize = 25;

pub struct BootInput<'a> {
    pub name: &'a str,
    pub base: &'a Utf8Path,
    pub base_format: &'a str,
    pub base_size: u64,
    /// Bytes; `None` keeps the base's size.
    pub disk_size: Option<u64>,
    pub seed: &'a Utf8Path,
    /// Where the overlay and the result file go.
    pub work: &'a Utf8Path,
    /// The serial console log (kept in the run directory).
    pub console: &'a Utf8Path,
    /// The step's log (commands and their output).
    pub log: &'a Utf8Path,
    pub arch: Arch,
    pub accel: Accel,
    pub cpus: u32,
    pub memory: u64,
    pub timeout: Duration,
    pub nonce: &'a str,
    pub secrets: &'a Secrets,
    pub cancel: &'a CancelToken,
}

pub struct Booted {
    pub overlay: Utf8PathBuf,
    pub elapsed: Duration,
}

/// The console lines that explain a failure: those before the guest's
/// result line when there is one (what follows is only the shutdown).
pub fn console_tail(console: &Utf8Path, nonce: &str) -> String {
    let text = std::fs::read(console).unwrap_or_default();
    let text = process::strip_controls(&String::from_utf8_lossy(&text));
    let marker = format!("PIPELINE_RESULT {nonce} script=");
    let upto = match text.find(&marker) {
        Some(at) => text[at..].find('\n').map_or(text.len(), |nl| at + nl),
        None => text.len(),
    };
    process::last_lines(&text[..upto], CONSOLE_TAIL)
}

pub fn boot(input: &BootInput) -> StepResult<Booted> {
    if let Some(size) = input.disk_size
        && size < input.base_size
    {
        return Err(StepError::permanent(format!(
            "disk_size ({} MiB) is smaller than the base image ({} MiB)",
            size >> 20,
            input.base_size >> 20
        )));
    }
    if input.arch == Arch::Arm64 && !Utf8Path::new(qemu::AARCH64_FIRMWARE).exists() {
        return Err(StepError::permanent(format!(
            "arm64 guests need UEFI firmware at {}: apt-get install qemu-efi-aarch64",
            qemu::AARCH64_FIRMWARE
        )));
    }
    let overlay = input.work.join("overlay.qcow2");
    let _ = std::fs::remove_file(&overlay);
    let mut create: Vec<String> = ["create", "-q", "-f", "qcow2", "-F", input.base_format, "-b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    create.push(input.base.to_string());
    create.push(overlay.to_string());
    if let Some(size) = input.disk_size {
        create.push(size.to_string());
    }
    process::run_logged(
        "qemu-img",
        &create,
        input.log,
        Some(Duration::from_secs(60)),
        input.cancel,
    )?;

    let result_file = input.work.join("result.txt");
    let _ = std::fs::remove_file(&result_file);
    let _ = std::fs::remove_file(input.console);
    let binary = qemu::system_binary(input.arch);
    let args = qemu::boot_args(&BootSpec {
        arch: input.arch,
        accel: input.accel,
        cpus: input.cpus,
        memory: input.memory,
        name: input.name,
        disk: &overlay,
        seed: input.seed,
        console: input.console,
        result: &result_file,
    });
    {
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(input.log)
        {
            let _ = writeln!(log, "$ {binary} {}", args.join(" "));
        }
    }
    let qemu_log = input.work.join("qemu.log");
    let expr = process::command(binary, &args)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_path(qemu_log.as_std_path());
    let running = Running::start(&expr, binary)?;
    let waited = running.wait(Some(input.timeout), input.cancel);
    drop(running);

    let console_tail = || {
        input
            .secrets
            .redact(&console_tail(input.console, input.nonce))
    };
    let exit = match waited {
        Ok(exit) => exit,
        Err(e) if e.kind == crate::step_error::StepErrorKind::Cancelled => return Err(e),
        Err(_) => {
            return Err(StepError::permanent(format!(
                "the VM did not power off within {} and was killed; last console lines:\n{}",
                humantime::format_duration(input.timeout),
                console_tail()
            )));
        }
    };
    let report = std::fs::read_to_string(&result_file).unwrap_or_default();
    let result = parse_result(&report, input.nonce);
    let qemu_output = process::tail_from(&qemu_log, 0, 5);
    match (exit.code, result) {
        (
            Some(0),
            GuestResult {
                script: Some(0),
                clean: Some(0),
            },
        ) => Ok(Booted {
            overlay,
            elapsed: exit.elapsed,
        }),
        (
            _,
            GuestResult {
                script: Some(code), ..
            },
        ) if code != 0 => Err(StepError::permanent(format!(
            "the provisioning script exited with {code}; last console lines:\n{}",
            console_tail()
        ))),
        (
            _,
            GuestResult {
                script: Some(0),
                clean,
            },
        ) if clean != Some(0) => Err(StepError::permanent(format!(
            "the provisioning script succeeded but the clean-up before power-off {}; last console lines:\n{}",
            clean.map_or("never reported".to_owned(), |c| format!("failed with {c}")),
            console_tail()
        ))),
        (Some(0), _) => Err(StepError::permanent(format!(
            "the VM powered off without reporting a result (did cloud-init run the user-data?); last console lines:\n{}",
            console_tail()
        ))),
        (code, _) => Err(StepError::permanent(format!(
            "{binary} {}: {}; last console lines:\n{}",
            code.map_or("was killed".to_owned(), |c| format!("exited with {c}")),
            qemu_output.trim(),
            console_tail()
        ))),
    }
}

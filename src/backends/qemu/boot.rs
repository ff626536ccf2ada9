//! The boot step: a qcow2 overlay backed by the cached base (no copy), grown
//! to the disk size, booted in QEMU until the guest powers off. The guest's
//! result comes back on a virtio-serial port; a failed script, a missing
//! report or a timeout fails the cell with the last console lines.

use crate::backends::Verified;
use crate::files::TempPath;
use crate::guest::{console_tail, parse_result};
use crate::host::accel::Accel;
use crate::host::accelerator::{Accelerator, Fallback};
use crate::host::qemu::{self, BootSpec};
use crate::host::qemu_img;
use crate::host::vm::{Vm, VmEnd};
use crate::model::Arch;
use crate::output::Scrubber;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::Utf8Path;
use std::time::Duration;

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
    /// The run's accelerator: a boot that finds KVM broken switches it to TCG.
    pub accel: &'a Accelerator,
    /// A line for the progress output and the run log.
    pub notify: &'a (dyn Fn(String) + Sync),
    pub cpus: u32,
    pub memory: u64,
    pub timeout: Duration,
    pub nonce: &'a str,
    pub cancel: &'a CancelToken,
}

/// A VM that powered off after its guest reported success.
pub struct Booted {
    /// The overlay with what the guest wrote; removed when dropped.
    pub overlay: TempPath,
    pub elapsed: Duration,
    /// The accelerator the successful boot ran on.
    pub accel: Accel,
}

/// QEMU's lines quoted in an error.
const QEMU_TAIL: usize = 15;

/// Boot until the VM ends; a KVM that faults is retried on TCG.
pub fn boot(input: &BootInput) -> StepResult<Ran> {
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
    loop {
        let accel = input.accel.current();
        let (vm, end, overlay) = boot_once(input, accel)?;
        if accel == Accel::Kvm && end.is_accelerator_fault() {
            let reason = first_line(&vm.output()).unwrap_or_else(|| "internal-error".into());
            match input.accel.kvm_faulted(&reason) {
                Fallback::Retry(note) => {
                    (input.notify)(note);
                    continue;
                }
                Fallback::Forced => {
                    return Err(StepError::permanent(format!(
                        "KVM stopped the guest ({reason}) and the VM was killed; PIPELINE_ACCEL=kvm forces KVM: unset it (or set PIPELINE_ACCEL=tcg) to build on TCG"
                    )));
                }
            }
        }
        return ended(input, &vm, end, accel, overlay);
    }
}

/// One boot on a fresh overlay, watched until it ends.
fn boot_once(input: &BootInput, accel: Accel) -> StepResult<(Vm, VmEnd, TempPath)> {
    let overlay = input.work.join("overlay.qcow2");
    let _ = std::fs::remove_file(&overlay);
    qemu_img::create_overlay(
        input.base,
        input.base_format,
        &overlay,
        input.disk_size,
        input.log,
        input.cancel,
    )?;
    let overlay = TempPath::new(overlay);
    let result_file = input.work.join("result.txt");
    let _ = std::fs::remove_file(&result_file);
    let _ = std::fs::remove_file(input.console);
    let binary = qemu::system_binary(input.arch);
    let args = qemu::boot_args(&BootSpec {
        arch: input.arch,
        accel,
        cpus: input.cpus,
        memory: input.memory,
        name: input.name,
        disk: overlay.path(),
        seed: input.seed,
        console: input.console,
        result: &result_file,
        result_port: crate::guest::RESULT_PORT,
    });
    // QEMU's own output goes to the step's log, after its command line.
    let mut vm = Vm::start(binary, &args, input.log)?;
    let end = vm.wait(input.timeout, input.cancel)?;
    Ok((vm, end, overlay))
}

/// A VM that powered off (or whose QEMU exited) by itself.
pub struct Ran {
    /// The overlay with what the guest wrote; removed when dropped.
    pub overlay: TempPath,
    pub elapsed: Duration,
    /// The accelerator it ran on.
    pub accel: Accel,
    /// QEMU's exit status; `None` when it was killed.
    pub code: Option<i32>,
    /// What the guest wrote on its result port.
    pub report: String,
    /// The console's last lines and what QEMU printed, redacted, for errors.
    pub evidence: String,
    /// The QEMU binary, for errors.
    pub program: String,
}

/// How a finished boot ended: a [`Ran`] when QEMU exited, an error when it
/// had to be killed.
fn ended(
    input: &BootInput,
    vm: &Vm,
    end: VmEnd,
    accel: Accel,
    overlay: TempPath,
) -> StepResult<Ran> {
    let redact = |text: String| Scrubber::global().scrub(&text).into_owned();
    // The console tail, then what QEMU itself printed, if anything.
    let evidence = || {
        let console = std::fs::read(input.console).unwrap_or_default();
        let console = console_tail(&String::from_utf8_lossy(&console), input.nonce);
        let mut text = if console.is_empty() {
            "the guest wrote nothing to its console".to_owned()
        } else {
            format!("last console lines:\n{console}")
        };
        let qemu = vm.output_tail(QEMU_TAIL);
        if !qemu.is_empty() {
            text.push_str(&format!("\n{} printed:\n{qemu}", vm.program()));
        }
        redact(text)
    };
    match end {
        VmEnd::Exited(exit) => Ok(Ran {
            overlay,
            elapsed: exit.elapsed,
            accel,
            code: exit.code,
            report: std::fs::read_to_string(input.work.join("result.txt")).unwrap_or_default(),
            evidence: evidence(),
            program: vm.program().to_owned(),
        }),
        VmEnd::TimedOut => Err(StepError::permanent(format!(
            "the VM did not power off within {} and was killed; {}",
            humantime::format_duration(input.timeout),
            evidence()
        ))),
        VmEnd::Stopped(status) => {
            let why = match status.as_str() {
                "io-error" => ": a disk write failed; is the disk that holds the overlay full?",
                "guest-panicked" => ": the guest kernel panicked",
                _ => "",
            };
            Err(StepError::permanent(format!(
                "QEMU stopped the guest ({status}{why}) and the VM was killed; {}",
                evidence()
            )))
        }
    }
}

impl Ran {
    /// A build boot's verdict: the provisioning script and the clean-up
    /// after it succeeded, and the VM powered off.
    pub fn built(self, nonce: &str) -> StepResult<Booted> {
        let result = parse_result(&self.report, nonce);
        let evidence = &self.evidence;
        match (self.code, result.script, result.clean) {
            (Some(0), Some(0), Some(0)) => Ok(Booted {
                overlay: self.overlay,
                elapsed: self.elapsed,
                accel: self.accel,
            }),
            (_, Some(code), _) if code != 0 => Err(StepError::permanent(format!(
                "the provisioning script exited with {code}; {evidence}"
            ))),
            (_, Some(0), clean) if clean != Some(0) => Err(StepError::permanent(format!(
                "the provisioning script succeeded but the clean-up before power-off {}; {evidence}",
                clean.map_or("never reported".to_owned(), |c| format!("failed with {c}")),
            ))),
            (code, _, _) => Err(self.silent(code, "a result", "the user-data")),
        }
    }

    /// A verify boot's verdict.
    pub fn verified(self, nonce: &str) -> StepResult<Verified> {
        let evidence = || self.evidence.clone();
        match Verified::judge(&self.report, nonce, self.elapsed, &evidence) {
            Some(verdict) => verdict,
            None => Err(self.silent(self.code, "a verify result", "the verify user-data")),
        }
    }

    /// The VM ended without the report expected of it.
    fn silent(&self, code: Option<i32>, expected: &str, user_data: &str) -> StepError {
        StepError::permanent(match code {
            Some(0) => format!(
                "the VM powered off without reporting {expected} (did cloud-init run {user_data}?); {}",
                self.evidence
            ),
            code => format!(
                "{} {}; {}",
                self.program,
                code.map_or("was killed".to_owned(), |c| format!("exited with {c}")),
                self.evidence
            ),
        })
    }
}

/// The first non-empty line QEMU printed.
fn first_line(output: &str) -> Option<String> {
    output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

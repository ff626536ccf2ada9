//! A QEMU VM as a [`Machine`]: a qcow2 overlay backed by the image it boots
//! (no copy), grown to the disk size, a NoCloud seed, the console and the
//! result port read from QEMU's sockets as the guest writes. A KVM that
//! faults is switched to TCG and the boot starts again from a fresh overlay.

use crate::backends::{Machine, MachineState};
use crate::files::TempPath;
use crate::guest::{GuestOutput, Purpose, ReportFrom};
use crate::host::accel::Accel;
use crate::host::accelerator::{Accelerator, Fallback};
use crate::host::qemu::{self, BootSpec};
use crate::host::qemu_img;
use crate::host::vm::{Vm, VmEnd};
use crate::model::Arch;
use crate::output::Scrubber;
use crate::step::{CancelToken, StepError, StepResult};
use camino::{Utf8Path, Utf8PathBuf};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// QEMU's lines quoted in an error.
const QEMU_TAIL: usize = 15;

/// The VMs of one recipe on this host.
pub struct QemuMachine<'a> {
    pub arch: Arch,
    /// The run's accelerator: a boot that finds KVM broken switches it to TCG.
    pub accel: &'a Accelerator,
    pub cpus: u32,
    pub memory: u64,
    pub cancel: &'a CancelToken,
}

/// What one VM boots.
pub struct QemuLaunch {
    /// QEMU's `-name`.
    pub name: String,
    /// The image the overlay is backed by, its format and virtual size.
    pub image: Utf8PathBuf,
    pub format: String,
    pub image_size: u64,
    /// Bytes; `None` keeps the image's size.
    pub disk_size: Option<u64>,
    pub seed: Utf8PathBuf,
    /// Where the overlay goes.
    pub work: Utf8PathBuf,
    /// The step's log: QEMU's command line and its own output.
    pub log: Utf8PathBuf,
}

/// A started VM and the disk it writes.
pub struct QemuRunning {
    vm: Vm,
    /// Removed when dropped.
    pub overlay: TempPath,
    /// The accelerator it runs on.
    pub accel: Accel,
    readers: Vec<JoinHandle<()>>,
}

impl QemuMachine<'_> {
    fn start_on(
        &self,
        launch: &QemuLaunch,
        accel: Accel,
        output: &Arc<GuestOutput>,
    ) -> StepResult<QemuRunning> {
        // One per accelerator: a boot restarted on TCG must not share the
        // path of the faulted boot's overlay, which goes when that is dropped.
        let overlay = launch
            .work
            .join(format!("overlay-{}.qcow2", accel.as_str()));
        let _ = std::fs::remove_file(&overlay);
        qemu_img::create_overlay(
            &launch.image,
            &launch.format,
            &overlay,
            launch.disk_size,
            &launch.log,
            self.cancel,
        )?;
        let overlay = TempPath::new(overlay);
        let args = qemu::boot_args(&BootSpec {
            arch: self.arch,
            accel,
            cpus: self.cpus,
            memory: self.memory,
            name: &launch.name,
            disk: overlay.path(),
            seed: &launch.seed,
            result_port: crate::guest::RESULT_PORT,
        });
        let (vm, streams) = Vm::start_with(
            qemu::system_binary(self.arch),
            &args,
            &launch.log,
            qemu::CHARDEVS,
        )?;
        // In the order of `qemu::CHARDEVS`.
        let sinks: [fn(&GuestOutput, &[u8]); 2] = [GuestOutput::console, GuestOutput::report];
        let readers = streams
            .into_iter()
            .zip(sinks)
            .map(|(stream, sink)| read_into(stream, output.clone(), sink))
            .collect();
        Ok(QemuRunning {
            vm,
            overlay,
            accel,
            readers,
        })
    }
}

/// A thread that hands what `stream` brings to `sink` until QEMU closes it.
fn read_into(
    mut stream: UnixStream,
    output: Arc<GuestOutput>,
    sink: fn(&GuestOutput, &[u8]),
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            sink(&output, &buf[..n]);
        }
    })
}

impl QemuRunning {
    /// The disk the guest wrote, kept once QEMU is gone.
    pub fn into_overlay(mut self) -> TempPath {
        self.kill();
        self.overlay
    }

    /// QEMU is gone: what its sockets still held is read.
    fn drain(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    fn kill(&mut self) {
        self.vm.kill();
        self.drain();
    }
}

impl Machine for QemuMachine<'_> {
    type Launch = QemuLaunch;
    type Running = QemuRunning;

    fn poll_every(&self) -> Duration {
        Duration::from_millis(100)
    }

    fn report_from(&self) -> ReportFrom {
        ReportFrom::Port
    }

    fn noun(&self, _: Purpose) -> &'static str {
        "VM"
    }

    fn user_data_source(&self) -> &'static str {
        ""
    }

    fn timed_out(&self, _: Purpose, timeout: Duration) -> String {
        format!(
            "the VM did not power off within {} and was killed",
            humantime::format_duration(timeout)
        )
    }

    fn start(&self, launch: &QemuLaunch, output: &Arc<GuestOutput>) -> StepResult<QemuRunning> {
        if let Some(size) = launch.disk_size
            && size < launch.image_size
        {
            return Err(StepError::permanent(format!(
                "disk_size ({} MiB) is smaller than the base image ({} MiB)",
                size >> 20,
                launch.image_size >> 20
            )));
        }
        if self.arch == Arch::Arm64 && !Utf8Path::new(qemu::AARCH64_FIRMWARE).exists() {
            return Err(StepError::permanent(format!(
                "arm64 guests need UEFI firmware at {}: apt-get install qemu-efi-aarch64",
                qemu::AARCH64_FIRMWARE
            )));
        }
        self.start_on(launch, self.accel.current(), output)
    }

    fn poll(
        &self,
        running: &mut QemuRunning,
        launch: &QemuLaunch,
        output: &Arc<GuestOutput>,
    ) -> StepResult<MachineState> {
        let Some(end) = running.vm.check()? else {
            return Ok(MachineState::Running);
        };
        running.drain();
        let program = running.vm.program().to_owned();
        Ok(match end {
            VmEnd::Exited(exit) => match exit.code {
                Some(0) => MachineState::Off(Some(0)),
                Some(code) => MachineState::Failed(format!("{program} exited with {code}")),
                None => MachineState::Failed(format!("{program} was killed")),
            },
            VmEnd::Stopped(status) if running.accel == Accel::Kvm && end_is_kvm(&status) => {
                let reason = crate::host::process::first_line(&running.vm.output())
                    .unwrap_or_else(|| "internal-error".into());
                match self.accel.kvm_faulted(&reason) {
                    Fallback::Retry(note) => {
                        running.kill();
                        *running = self.start_on(launch, Accel::Tcg, output)?;
                        MachineState::Restarted(note)
                    }
                    Fallback::Forced => MachineState::Failed(format!(
                        "KVM stopped the guest ({reason}) and the VM was killed; PIPELINE_ACCEL=kvm forces KVM: unset it (or set PIPELINE_ACCEL=tcg) to build on TCG"
                    )),
                }
            }
            VmEnd::Stopped(status) => {
                let why = match status.as_str() {
                    "io-error" => ": a disk write failed; is the disk that holds the overlay full?",
                    "guest-panicked" => ": the guest kernel panicked",
                    _ => "",
                };
                MachineState::Failed(format!(
                    "QEMU stopped the guest ({status}{why}) and the VM was killed"
                ))
            }
            VmEnd::TimedOut => MachineState::Failed(format!("{program} timed out")),
        })
    }

    /// The guest powers itself off after its last line: wait for QEMU to
    /// exit, which flushes the overlay.
    fn stop(
        &self,
        running: &mut QemuRunning,
        _: &Arc<GuestOutput>,
        left: Duration,
    ) -> StepResult<()> {
        let until = Instant::now() + left;
        loop {
            match running.vm.check()? {
                Some(VmEnd::Exited(exit)) if exit.code == Some(0) => {
                    running.drain();
                    return Ok(());
                }
                Some(VmEnd::Exited(exit)) => {
                    running.drain();
                    return Err(StepError::permanent(format!(
                        "{} {} after the guest's last line",
                        running.vm.program(),
                        exit.code
                            .map_or("was killed".to_owned(), |c| format!("exited with {c}"))
                    )));
                }
                Some(_) => {
                    running.drain();
                    return Err(StepError::permanent(
                        "QEMU stopped the guest after its last line and the VM was killed",
                    ));
                }
                None => {}
            }
            if Instant::now() >= until {
                running.kill();
                return Err(StepError::permanent(
                    "the VM did not power off after the guest's last line and was killed",
                ));
            }
            self.cancel.sleep(self.poll_every())?;
        }
    }

    fn destroy(&self, mut running: QemuRunning) -> StepResult<()> {
        // The overlay goes with `running`.
        running.kill();
        Ok(())
    }

    fn evidence(&self, running: &QemuRunning) -> Option<String> {
        let said = running.vm.output_tail(QEMU_TAIL);
        (!said.is_empty()).then(|| {
            Scrubber::global()
                .scrub(&format!("{} printed:\n{said}", running.vm.program()))
                .into_owned()
        })
    }
}

/// QEMU stopped the guest the way a KVM that cannot run it does.
fn end_is_kvm(status: &str) -> bool {
    VmEnd::Stopped(status.to_owned()).is_accelerator_fault()
}

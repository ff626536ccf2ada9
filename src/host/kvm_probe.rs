//! The KVM probe: a few-KiB guest (`kvm_probe.asm`) that makes the CPU
//! transitions a boot loader and a kernel make (protected mode with a TSS,
//! software and timer interrupts returning with IRET, a real-mode BIOS call
//! in between, long mode with paging and IRETQ), booted through the same
//! firmware, machine and CPU model as real builds. It finishes in about a
//! second where KVM works; where KVM stops real guests it stops this one.

use super::accel::Accel;
use super::probe_error::ProbeError;
use super::vm::{Vm, VmEnd};
use crate::model::Arch;
use crate::step::CancelToken;
use std::time::Duration;

/// The assembled probe (`nasm -f bin kvm_probe.asm`).
const PROBE: &[u8] = include_bytes!("kvm_probe.bin");
const TIMEOUT: Duration = Duration::from_secs(10);
/// isa-debug-exit status for the probe's 0x10 (done) and 0x11 (exception).
const PASSED: i32 = (0x10 << 1) | 1;
const EXCEPTION: i32 = (0x11 << 1) | 1;

/// Boot the probe with `accel` using `binary` (a `qemu-system-x86_64`);
/// how long it took, or why it failed.
pub fn probe(binary: &str, accel: Accel) -> Result<Duration, ProbeError> {
    let dir = tempfile::tempdir().map_err(ProbeError::TempDir)?;
    let path = |name: &str| dir.path().join(name).display().to_string();
    // A whole MiB: SeaBIOS on q35 cannot read a one-sector disk.
    let mut disk = PROBE.to_vec();
    disk.resize(1 << 20, 0);
    std::fs::write(path("probe.img"), disk).map_err(ProbeError::Disk)?;
    let mut args = super::qemu::machine_args(Arch::X64, accel);
    args.extend(
        [
            "-m",
            "64",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-device",
            "isa-debugcon,iobase=0xe9,chardev=stages",
        ]
        .map(String::from),
    );
    args.push("-chardev".into());
    args.push(format!("file,id=stages,path={}", path("stages.log")));
    args.push("-drive".into());
    args.push(format!("file={},format=raw,if=virtio", path("probe.img")));
    let log = camino::Utf8PathBuf::from(path("qemu.log"));
    let qemu = |e: crate::step::StepError| ProbeError::Qemu { message: e.message };
    let mut vm = Vm::start(binary, &args, &log).map_err(qemu)?;
    let end = vm.wait(TIMEOUT, &CancelToken::new()).map_err(qemu)?;
    let stages = std::fs::read_to_string(path("stages.log")).unwrap_or_default();
    let at = stopped_at(&stages);
    let said = super::process::first_line(&vm.output());
    match end {
        VmEnd::Exited(exit) if exit.code == Some(PASSED) => Ok(exit.elapsed),
        VmEnd::Exited(exit) if exit.code == Some(EXCEPTION) => Err(ProbeError::Exception { at }),
        VmEnd::Exited(exit) => Err(ProbeError::Exited {
            code: exit.code,
            at,
            said,
        }),
        VmEnd::Stopped(state) => Err(ProbeError::Stopped { state, at, said }),
        VmEnd::TimedOut => Err(ProbeError::Hung {
            secs: TIMEOUT.as_secs(),
            at,
            said,
        }),
    }
}

/// Where the probe got to, from the stage letters it wrote.
fn stopped_at(stages: &str) -> &'static str {
    match stages.chars().last() {
        None => "before its first instruction",
        Some('R') => "in real mode, reading its disk",
        Some('L') => "entering protected mode",
        Some('P') => "at its first interrupt in protected mode",
        Some('i') => "at a timer interrupt in protected mode",
        Some('I') => "going back to real mode for a BIOS call",
        Some('T') => "entering long mode",
        Some('j') => "at a timer interrupt in long mode",
        Some('X') => "after its last stage",
        Some(_) => "at an unknown stage",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_probe_makes_every_transition_under_tcg() {
        let took = probe("qemu-system-x86_64", Accel::Tcg).expect("the probe passes under TCG");
        assert!(took < TIMEOUT);
    }

    /// A QEMU that behaves like one on a host whose KVM faults: prints the
    /// error and stays up with the guest stopped.
    #[test]
    fn a_guest_stopped_by_kvm_fails_the_probe_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu-system-x86_64");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'KVM internal error. Suberror: 1' >&2\necho 'extra data[0]: 0x0000000000000001' >&2\nexec sleep 600\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let started = std::time::Instant::now();
        let err = probe(fake.to_str().unwrap(), Accel::Kvm).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        assert!(
            matches!(&err, ProbeError::Stopped { state, .. } if state == "internal-error"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "QEMU stopped the probe guest (internal-error) before its first instruction: KVM internal error. Suberror: 1"
        );
    }

    #[test]
    fn a_probe_that_hangs_fails_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu-system-x86_64");
        std::fs::write(&fake, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = probe(fake.to_str().unwrap(), Accel::Kvm).unwrap_err();
        assert!(matches!(err, ProbeError::Hung { secs: 10, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "the probe guest did not finish within 10s; it hung before its first instruction"
        );
    }

    #[test]
    fn the_committed_probe_matches_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("probe.bin");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/src/host/kvm_probe.asm");
        let status = std::process::Command::new("nasm")
            .args(["-f", "bin", "-o"])
            .arg(&out)
            .arg(source)
            .status()
            .expect("nasm is installed (apt-get install nasm)");
        assert!(status.success());
        assert!(
            std::fs::read(&out).unwrap() == PROBE,
            "src/host/kvm_probe.bin is stale: nasm -f bin -o src/host/kvm_probe.bin src/host/kvm_probe.asm"
        );
    }

    #[test]
    fn stages_name_where_the_guest_stopped() {
        assert_eq!(
            stopped_at("RLP"),
            "at its first interrupt in protected mode"
        );
        assert_eq!(stopped_at(""), "before its first instruction");
    }
}

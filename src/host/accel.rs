//! Which accelerator QEMU uses. KVM only when a real test boot proves it
//! works: on some hosts `/dev/kvm` exists but a guest hangs or QEMU aborts.

use crate::model::Arch;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The choice and, when it is TCG on a host that looked KVM-capable, why.
#[derive(Debug, Clone)]
pub struct AccelChoice {
    pub accel: Accel,
    pub warning: Option<String>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A boot sector that writes 0x10 to QEMU's isa-debug-exit port: QEMU then
/// exits with status (0x10 << 1) | 1 = 33. Reaching it proves that the
/// firmware ran and the guest executed code under the accelerator.
fn probe_disk() -> Vec<u8> {
    let code = [
        0xba, 0xf4, 0x00, // mov dx, 0xf4
        0xb0, 0x10, // mov al, 0x10
        0xee, // out dx, al
        0xf4, // hlt
        0xeb, 0xfd, // jmp (back to hlt)
    ];
    // A whole MiB: SeaBIOS on q35 cannot read a one-sector disk.
    let mut sector = vec![0u8; 1 << 20];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// Boot the probe sector with `accel` on the machine and CPU model real
/// builds use (x86 only); Ok when the guest ran it in time.
pub fn probe(accel: Accel) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("failed to create a temp dir: {e}"))?;
    let disk = dir.path().join("probe.img");
    std::fs::write(&disk, probe_disk())
        .map_err(|e| format!("failed to write the probe disk: {e}"))?;
    let mut args = super::qemu::machine_args(Arch::X64, accel);
    args.extend(
        [
            "-m",
            "64",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive",
        ]
        .map(String::from),
    );
    args.push(format!("file={},format=raw,if=virtio", disk.display()));
    let expr = super::process::command("qemu-system-x86_64", &args)
        .stdout_null()
        .stderr_capture();
    let running =
        super::process::Running::start(&expr, "qemu-system-x86_64").map_err(|e| e.message)?;
    let exit = running
        .wait(Some(PROBE_TIMEOUT), &crate::cancel::CancelToken::new())
        .map_err(|_| {
            format!(
                "a test boot did not finish within {}s",
                PROBE_TIMEOUT.as_secs()
            )
        })?;
    match exit.code {
        Some(33) => Ok(()),
        Some(code) => Err(format!("a test boot exited with status {code}")),
        None => Err("a test boot was killed by a signal".into()),
    }
}

/// Choose the accelerator for a guest of `arch`, probing KVM once per
/// process. `PIPELINE_ACCEL=tcg|kvm` skips the probe.
pub fn choose(arch: Arch) -> AccelChoice {
    match std::env::var("PIPELINE_ACCEL").as_deref() {
        Ok("tcg") => {
            return AccelChoice {
                accel: Accel::Tcg,
                warning: None,
            };
        }
        Ok("kvm") => {
            return AccelChoice {
                accel: Accel::Kvm,
                warning: None,
            };
        }
        _ => {}
    }
    if arch.machine() != std::env::consts::ARCH {
        // Another architecture is always emulated; nothing to warn about.
        return AccelChoice {
            accel: Accel::Tcg,
            warning: None,
        };
    }
    static KVM: OnceLock<AccelChoice> = OnceLock::new();
    KVM.get_or_init(|| {
        let fallback = |why: String| AccelChoice {
            accel: Accel::Tcg,
            warning: Some(format!(
                "KVM is not usable ({why}); using TCG software emulation, builds will be much slower"
            )),
        };
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            return fallback(format!("/dev/kvm: {e}"));
        }
        match probe(Accel::Kvm) {
            Ok(()) => AccelChoice {
                accel: Accel::Kvm,
                warning: None,
            },
            Err(why) => fallback(why),
        }
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_sector_boots_under_tcg() {
        probe(Accel::Tcg).expect("the probe boot sector runs under TCG");
    }
}

//! QEMU command lines for a build VM. Pure, so the exact flags are unit-tested.

use super::accel::Accel;
use crate::model::Arch;
use camino::Utf8Path;

/// UEFI firmware for arm64 guests (Debian package qemu-efi-aarch64).
pub const AARCH64_FIRMWARE: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// The character devices [`boot_args`] refers to, in the order QEMU opens
/// them: the serial console, the guest's result port.
pub const CHARDEVS: &[&str] = &["console", "result"];

pub struct BootSpec<'a> {
    pub arch: Arch,
    pub accel: Accel,
    pub cpus: u32,
    /// Bytes.
    pub memory: u64,
    pub name: &'a str,
    pub disk: &'a Utf8Path,
    pub seed: &'a Utf8Path,
    /// The name of the virtio-serial port the guest reports on.
    pub result_port: &'a str,
}

/// Machine, accelerator and CPU model. The KVM probe uses exactly these, so
/// that it fails where a real boot would (a host may run one CPU model and
/// abort or hang on another).
pub fn machine_args(arch: Arch, accel: Accel) -> Vec<String> {
    let mut a: Vec<&str> = match arch {
        Arch::X64 => vec!["-machine", "q35"],
        Arch::Arm64 => vec!["-machine", "virt", "-bios", AARCH64_FIRMWARE],
    };
    a.extend(["-accel", accel.as_str()]);
    a.extend([
        "-cpu",
        match (arch, accel) {
            (_, Accel::Kvm) => "host",
            (Arch::X64, Accel::Tcg) => "max",
            // Debian's arm64 userspace signs return addresses (pointer
            // authentication) in nearly every function; TCG emulates max's
            // architected algorithm (QARMA5) in software, and the
            // implementation-defined one boots a cloud image ~1.8x faster.
            (Arch::Arm64, Accel::Tcg) => "max,pauth-impdef=on",
        },
    ]);
    a.into_iter().map(String::from).collect()
}

pub fn system_binary(arch: Arch) -> &'static str {
    match arch {
        Arch::X64 => "qemu-system-x86_64",
        Arch::Arm64 => "qemu-system-aarch64",
    }
}

/// The full argument list. The disk boots through firmware (SeaBIOS on x86,
/// UEFI on arm64) as a real cloud image does; networking is user-mode with
/// no forwarded host ports; the serial console and the guest's
/// virtio-serial result port are sockets pipeline reads ([`CHARDEVS`]).
pub fn boot_args(spec: &BootSpec) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));
    push(&["-name", spec.name]);
    a.extend(machine_args(spec.arch, spec.accel));
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));
    let smp = spec.cpus.to_string();
    let mem = format!("{}M", spec.memory >> 20);
    push(&["-smp", &smp, "-m", &mem]);
    // No default devices, no display, and a guest reboot ends QEMU.
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    // cache=unsafe: the overlay is thrown away if QEMU dies; QEMU flushes on a clean exit.
    let disk = format!(
        "file={},if=virtio,format=qcow2,discard=unmap,cache=unsafe",
        spec.disk
    );
    let seed = format!("file={},if=virtio,format=raw,readonly=on", spec.seed);
    push(&["-drive", &disk, "-drive", &seed]);
    push(&[
        "-netdev",
        "user,id=net0",
        "-device",
        "virtio-net-pci,netdev=net0",
    ]);
    push(&[
        "-object",
        "rng-random,filename=/dev/urandom,id=rng0",
        "-device",
        "virtio-rng-pci,rng=rng0",
    ]);
    // The console and the result port are the character devices
    // [`CHARDEVS`] that `Vm::start_with` makes, read as the guest writes.
    push(&["-serial", "chardev:console"]);
    let port = format!("virtserialport,chardev=result,name={}", spec.result_port);
    push(&["-device", "virtio-serial-pci", "-device", &port]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(arch: Arch, accel: Accel) -> Vec<String> {
        boot_args(&BootSpec {
            arch,
            accel,
            cpus: 2,
            memory: 2 << 30,
            name: "img",
            disk: "/w/overlay.qcow2".into(),
            seed: "/w/seed.img".into(),
            result_port: "org.pipeline.result",
        })
    }

    #[test]
    fn x64_tcg_boots_the_disk_through_firmware_with_user_networking() {
        let a = spec(Arch::X64, Accel::Tcg).join(" ");
        assert!(
            a.contains("-machine q35 -accel tcg -cpu max -smp 2 -m 2048M"),
            "{a}"
        );
        assert!(a.contains("-netdev user,id=net0 "), "{a}");
        assert!(!a.contains("hostfwd"), "no host ports: {a}");
        assert!(!a.contains("-kernel"), "boots through firmware: {a}");
        assert!(a.contains("-drive file=/w/overlay.qcow2,if=virtio,format=qcow2,discard=unmap"));
        assert!(a.contains("name=org.pipeline.result"));
        assert!(a.contains("-serial chardev:console"));
    }

    #[test]
    fn arm64_uses_uefi_and_kvm_uses_the_host_cpu() {
        let a = spec(Arch::Arm64, Accel::Tcg).join(" ");
        assert!(a.contains("-machine virt -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd"));
        assert!(
            a.contains("-accel tcg -cpu max,pauth-impdef=on -smp 2"),
            "{a}"
        );
        assert_eq!(system_binary(Arch::Arm64), "qemu-system-aarch64");
        let k = spec(Arch::X64, Accel::Kvm).join(" ");
        assert!(k.contains("-accel kvm -cpu host"));
    }
}

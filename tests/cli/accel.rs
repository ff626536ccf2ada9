//! KVM that passes the probe and then stops a real guest. A wrapper
//! `qemu-system-x86_64` first on `PATH` (tests/fixtures/qemu-with-faulting-kvm)
//! plays such a host: it lets the probe through (running it on TCG) and, for
//! any other `-accel kvm`, prints what QEMU prints on such a host and sleeps
//! with the guest stopped. Everything else runs the real QEMU: the cell is
//! built by real cloud-init on TCG.

use crate::support::{
    Sandbox, assert_no_qemu_left, debugfs_cat, demo_recipe, stderr, tiny_recipe, to_raw, vm_lock,
    without_verify,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Link tests/fixtures/qemu-with-faulting-kvm as `dir/qemu-system-x86_64`.
fn install_faulting_qemu(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(
        crate::support::repo().join("tests/fixtures/qemu-with-faulting-kvm"),
        dir.join("qemu-system-x86_64"),
    )
    .unwrap();
}

/// Make `cmd` find the wrapper in `dir` first; each call appends `probe`,
/// `kvm` or `tcg` to `dir/calls`.
fn through_faulting_qemu(cmd: &mut std::process::Command, dir: &Path) {
    cmd.env("REAL_QEMU", which("qemu-system-x86_64"))
        .env("CALLS", dir.join("calls"));
    let path = std::env::var_os("PATH").unwrap();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

#[test]
fn a_guest_that_kvm_stops_is_built_on_tcg_and_the_host_remembers_it() {
    let _vm = vm_lock();
    assert!(
        Path::new("/dev/kvm").exists(),
        "this test plays a host whose /dev/kvm opens: it needs /dev/kvm"
    );
    let sb = Sandbox::new();
    let bin = sb.path().join("fake-bin");
    sb.write("demo.toml", &without_verify(&demo_recipe()));

    let started = Instant::now();
    let mut cmd = sb.command(&["run", "demo.toml", "--only", "juju=", "--only", "microk8s="]);
    install_faulting_qemu(&bin);
    through_faulting_qemu(&mut cmd, &bin);
    let calls = bin.join("calls");
    let o = cmd.output().unwrap();
    let took = started.elapsed();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The demo's build.timeout is 10 minutes; the stopped guest cost seconds.
    assert!(took < Duration::from_secs(8 * 60), "took {took:?}");
    let said = "KVM stopped the guest (KVM internal error. Suberror: 1); retrying this cell on TCG";
    assert!(
        err.contains(said),
        "the progress output does not say so:\n{err}"
    );
    let log = sb.run_log();
    assert!(log.contains(said), "the run log does not say so:\n{log}");
    assert!(log.contains("remembered for this host in "), "{log}");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "probe\nkvm\ntcg\n",
        "the probe passed, the KVM boot faulted, TCG built it"
    );
    // QEMU's own words are in the cell's boot log.
    let boot_log = sb.run_dir().join("demo-bookworm-x64/boot.log");
    let boot_log = std::fs::read_to_string(boot_log).unwrap();
    assert!(
        boot_log.contains("KVM internal error. Suberror: 1"),
        "{boot_log}"
    );
    assert!(boot_log.contains("extra data[1]"), "{boot_log}");

    // A real image, built by real cloud-init on TCG.
    let image = sb.path().join("images/demo-bookworm-x64/1.qcow2");
    let raw = to_raw(&image, sb.path());
    let env = debugfs_cat(&raw, "/etc/pipeline-demo/cell.env").expect("cell.env");
    assert!(env.contains("IMAGE_NAME=demo-bookworm-x64\n"), "{env}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join("images/demo-bookworm-x64/1.manifest.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["host"]["accelerator"], "tcg");
    assert_no_qemu_left(&sb);

    // The next run, of any recipe, goes straight to TCG: no probe, no KVM.
    tiny_recipe(&["b-ok"]).write(&sb);
    let mut cmd = sb.command(&["run", "tiny.toml"]);
    through_faulting_qemu(&mut cmd, &bin);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "probe\nkvm\ntcg\ntcg\n",
        "the second run tried KVM again"
    );
    let log = sb.run_log();
    assert!(
        log.contains(
            "warning: KVM is not usable on this host (KVM internal error. Suberror: 1, found "
        ),
        "{log}"
    );
}

/// With KVM forced (`PIPELINE_ACCEL=kvm`, as on a host whose KVM the probe
/// would not catch), a guest that KVM stops fails its cell at once, with
/// QEMU's own words and what the console showed (nothing), instead of
/// waiting out `build.timeout`. Needs no /dev/kvm: the faulting wrapper
/// stands in for QEMU.
#[test]
fn a_forced_kvm_that_stops_the_guest_fails_the_cell_in_seconds_with_qemus_words() {
    let _vm = vm_lock();
    let sb = Sandbox::new();
    let bin = sb.path().join("fake-bin");
    tiny_recipe(&["b-ok"]).timeout("10m").write(&sb);
    install_faulting_qemu(&bin);
    let mut cmd = sb.command(&["run", "tiny.toml"]);
    through_faulting_qemu(&mut cmd, &bin);
    cmd.env("PIPELINE_ACCEL", "kvm");
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for said in [
        "KVM stopped the guest (KVM internal error. Suberror: 1) and the VM was killed; PIPELINE_ACCEL=kvm forces KVM",
        "the guest wrote nothing to its console",
        "qemu-system-x86_64 printed:",
        "extra data[1]: 0x9090909090c3cf04",
        "emulation failure",
    ] {
        assert!(err.contains(said), "no {said:?} in:\n{err}");
    }
    // From the fault to the kill: the boot step's own time, as the run log
    // gives it ("failed after 1.2s"), not the 10 minutes of build.timeout.
    let log = sb.run_log();
    let line = log
        .lines()
        .find(|l| l.contains("boot tiny-tiny-x64-case-b-ok: failed after "))
        .unwrap_or_else(|| panic!("{log}"));
    let took = line
        .split("failed after ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|d| humantime::parse_duration(&d.replace(' ', "")).ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        took < Duration::from_secs(30),
        "the fault took {took:?} to end the boot"
    );
    assert_eq!(
        std::fs::read_to_string(bin.join("calls")).unwrap(),
        "kvm\n",
        "no probe (forced), one KVM boot, no TCG retry"
    );
    assert_no_qemu_left(&sb);
}

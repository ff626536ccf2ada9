//! An arm64 image built for real: the arm64 Debian cloud image
//! (tests/fixtures/arm64-cloud-image.sh) booted in QEMU's `virt` machine
//! through UEFI under TCG, real cloud-init running the provisioning script,
//! the snapshot stored locally and in a real Glance.

use crate::support::{
    Rig, Sandbox, debugfs_cat, demo_arm64_recipe, stderr, stdout, to_raw, vm_lock, with_clouds,
};
use serde_json::Value;

#[test]
fn an_arm64_cell_builds_end_to_end() {
    let _vm = vm_lock();
    let rig = Rig::start();
    let sb = Sandbox::new();
    let recipe = format!(
        "{}\n[[target]]\nname = \"cloud-a\"\nkind = \"openstack\"\ncloud = \"cloud-a\"\nkeep = 3\n",
        demo_arm64_recipe()
    );
    sb.write("arm.toml", &recipe);
    // `arch` selects like an axis.
    let only = ["--only", "arch=arm64", "--only", "juju="];
    let mut cmd = sb.command(&[&["run", "arm.toml", "--json"][..], &only].concat());
    with_clouds(&mut cmd, &rig.clouds_yaml());
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let cells: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cell = &cells[0];
    assert_eq!(cell["image_name"], "demo-bookworm-arm64");
    assert_eq!(cell["arch"], "arm64");
    let log = sb.run_log();
    assert!(
        log.contains("building 1 cell with up to 1 VM at a time (tcg"),
        "{log}"
    );
    let boot_log =
        std::fs::read_to_string(sb.run_dir().join("demo-bookworm-arm64/boot.log")).unwrap();
    assert!(boot_log.contains("$ qemu-system-aarch64 "), "{boot_log}");
    assert!(
        boot_log.contains("-machine virt -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd"),
        "{boot_log}"
    );

    // A standalone qcow2 whose /etc shows the script ran, for arm64.
    let image = sb.path().join("images/demo-bookworm-arm64/1.qcow2");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&image)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "{info}");
    let raw = to_raw(&image, sb.path());
    let env = debugfs_cat(&raw, "/etc/pipeline-demo/cell.env").expect("cell.env");
    assert!(env.contains("IMAGE_NAME=demo-bookworm-arm64\n"), "{env}");
    assert!(env.contains("ARCH=arm64\n"), "{env}");
    let os = debugfs_cat(&raw, "/usr/lib/os-release").unwrap_or_default();
    assert!(os.contains("bookworm"), "{os}");
    std::fs::remove_file(&raw).unwrap();

    // Glance knows it as aarch64; latest names it on both targets.
    let id = cell["images"][1]["id"].as_str().unwrap();
    let url = format!("{}/v2/images/{id}", rig.glance_url("a"));
    let (status, glance) = rig.api("GET", &url, &rig.ci_token(), None);
    assert_eq!(status, 200, "{glance}");
    assert_eq!(glance["architecture"], "aarch64");
    let mut cmd = sb.command(&[&["latest", "arm.toml", "--json"][..], &only].concat());
    with_clouds(&mut cmd, &rig.clouds_yaml());
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let latest: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(latest[0]["images"]["local"], "demo-bookworm-arm64/1");
    assert_eq!(latest[0]["images"]["cloud-a"], id);
}

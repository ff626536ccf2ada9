//! A remembered "KVM does not work here", keyed by what decides it: the
//! kernel (and so its KVM module), QEMU's version and the CPU model. A new
//! kernel, QEMU or machine is probed again.

use crate::files::digest::sha256_bytes;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub kernel: String,
    pub qemu: String,
    pub cpu: String,
}

impl HostKey {
    pub fn of_this_host(qemu_version: &str) -> Self {
        let uname = rustix::system::uname();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            kernel: uname.release().to_string_lossy().into_owned(),
            qemu: qemu_version.to_owned(),
            cpu,
        }
    }

    /// `<state>/host/kvm-<hash>.json`.
    pub fn verdict_file(&self, state_dir: &Utf8Path) -> Utf8PathBuf {
        let id = sha256_bytes(format!("{}\n{}\n{}", self.kernel, self.qemu, self.cpu).as_bytes());
        state_dir
            .join("host")
            .join(format!("kvm-{}.json", &id[..16]))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostVerdict {
    pub kernel: String,
    pub qemu: String,
    pub cpu: String,
    /// Always `tcg`: only a broken KVM is remembered.
    pub accel: String,
    pub reason: String,
    /// RFC 3339.
    pub decided_at: String,
}

impl HostVerdict {
    pub fn new(key: &HostKey, reason: &str) -> Self {
        Self {
            kernel: key.kernel.clone(),
            qemu: key.qemu.clone(),
            cpu: key.cpu.clone(),
            accel: "tcg".into(),
            reason: reason.to_owned(),
            decided_at: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }
    }

    /// The verdict in `file`, if there is a readable one.
    pub fn read(file: &Utf8Path) -> Option<Self> {
        let text = std::fs::read_to_string(file).ok()?;
        serde_json::from_str::<Self>(&text)
            .ok()
            .filter(|v| v.accel == "tcg")
    }

    /// Write atomically (a temp file renamed into place).
    pub fn write(&self, file: &Utf8Path) -> std::io::Result<()> {
        let dir = file.parent().expect("a verdict file has a directory");
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut temp, self)?;
        use std::io::Write;
        temp.write_all(b"\n")?;
        temp.persist(file).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_round_trips_and_the_key_decides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let key = HostKey::of_this_host("QEMU emulator version 7.2.22");
        assert!(!key.kernel.is_empty());
        let file = key.verdict_file(dir);
        assert!(HostVerdict::read(&file).is_none());
        HostVerdict::new(&key, "it faulted").write(&file).unwrap();
        assert_eq!(HostVerdict::read(&file).unwrap().reason, "it faulted");
        let other = HostKey {
            qemu: "QEMU emulator version 8.2.0".into(),
            ..key
        };
        assert_ne!(other.verdict_file(dir), file);
    }
}

//! Which accelerator QEMU uses. KVM only when the probe (`kvm_probe`) proves
//! it runs what a boot needs: on some hosts `/dev/kvm` opens and QEMU then
//! hangs, on others a real guest stops at once with a KVM internal error.
//! A boot that still meets such a fault switches the run to TCG, and the
//! verdict is remembered for this host ([`HostVerdict`]) so that later runs
//! go straight to TCG.

use super::accel::Accel;
use super::accel_verdict::{HostKey, HostVerdict};
use crate::model::Arch;
use camino::{Utf8Path, Utf8PathBuf};
use std::sync::Mutex;

/// What a boot does after KVM stopped its guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Boot again on TCG; the message says why, for the progress output.
    Retry(String),
    /// `PIPELINE_ACCEL=kvm` asked for KVM: fail instead.
    Forced,
}

/// The accelerator of a run. Starts as chosen by [`Accelerator::choose`];
/// may switch from KVM to TCG once, when a boot finds KVM broken.
#[derive(Debug)]
pub struct Accelerator {
    state: Mutex<(Accel, Option<String>)>,
    forced: bool,
    /// Where a verdict for this host is kept (none for a fixed choice).
    verdict: Option<(HostKey, Utf8PathBuf)>,
}

impl Accelerator {
    /// A fixed accelerator, never probed or switched.
    pub fn fixed(accel: Accel) -> Self {
        Self {
            state: Mutex::new((accel, None)),
            forced: true,
            verdict: None,
        }
    }

    /// Choose for guests of `arch` on this host: `PIPELINE_ACCEL`, else a
    /// remembered verdict under `state_dir`, else `/dev/kvm` and the probe.
    /// `qemu_version` is part of what decides (a new QEMU is probed again).
    pub fn choose(arch: Arch, qemu_version: Option<&str>, state_dir: &Utf8Path) -> Self {
        match std::env::var("PIPELINE_ACCEL").as_deref() {
            Ok("tcg") => return Self::fixed(Accel::Tcg),
            Ok("kvm") => return Self::fixed(Accel::Kvm),
            _ => {}
        }
        if arch.machine() != std::env::consts::ARCH {
            // Another architecture is always emulated; nothing to warn about.
            return Self::fixed(Accel::Tcg);
        }
        let key = HostKey::of_this_host(qemu_version.unwrap_or("unknown"));
        let file = key.verdict_file(state_dir);
        let tcg = |why: String| Self {
            state: Mutex::new((Accel::Tcg, Some(why))),
            forced: false,
            verdict: Some((key.clone(), file.clone())),
        };
        if let Some(verdict) = HostVerdict::read(&file) {
            return tcg(format!(
                "KVM is not usable on this host ({}, found {}); using TCG software emulation, builds will be much slower (remove {file} or set PIPELINE_ACCEL=kvm to try KVM again)",
                verdict.reason, verdict.decided_at
            ));
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            return tcg(format!(
                "KVM is not usable (/dev/kvm: {e}); using TCG software emulation, builds will be much slower"
            ));
        }
        match super::kvm_probe::probe(super::qemu::system_binary(Arch::X64), Accel::Kvm) {
            Ok(_) => Self {
                state: Mutex::new((Accel::Kvm, None)),
                forced: false,
                verdict: Some((key, file)),
            },
            Err(why) => {
                let why = why.to_string();
                let note = remembered_note(&HostVerdict::new(&key, &why).write(&file), &file);
                tcg(format!(
                    "KVM is not usable ({why}); using TCG software emulation, builds will be much slower{note}"
                ))
            }
        }
    }

    /// Where a verdict for this host (with QEMU `qemu_version`) is kept.
    pub fn verdict_file(qemu_version: Option<&str>, state_dir: &Utf8Path) -> Utf8PathBuf {
        HostKey::of_this_host(qemu_version.unwrap_or("unknown")).verdict_file(state_dir)
    }

    pub fn current(&self) -> Accel {
        self.lock().0
    }

    /// Why the run uses TCG where KVM looked possible.
    pub fn warning(&self) -> Option<String> {
        self.lock().1.clone()
    }

    /// A guest just stopped under KVM with `reason`: switch the run to TCG
    /// (once; later calls find it switched) and remember it for this host.
    pub fn kvm_faulted(&self, reason: &str) -> Fallback {
        if self.forced {
            return Fallback::Forced;
        }
        let mut state = self.lock();
        if state.0 == Accel::Tcg {
            return Fallback::Retry(format!(
                "KVM stopped the guest ({reason}); the run already switched to TCG: retrying this cell on TCG"
            ));
        }
        let remembered = match &self.verdict {
            Some((key, file)) => remembered_note(&HostVerdict::new(key, reason).write(file), file),
            None => String::new(),
        };
        *state = (
            Accel::Tcg,
            Some(format!(
                "KVM stopped a guest on this host ({reason}); using TCG software emulation"
            )),
        );
        Fallback::Retry(format!(
            "KVM stopped the guest ({reason}); retrying this cell on TCG, and every cell after it{remembered}"
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Accel, Option<String>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn remembered_note(written: &std::io::Result<()>, file: &Utf8Path) -> String {
    match written {
        Ok(()) => format!(" (remembered for this host in {file})"),
        Err(e) => format!(" (could not remember it in {file}: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(dir: &Utf8Path) -> Accelerator {
        let key = HostKey {
            kernel: "k".into(),
            qemu: "q".into(),
            cpu: "c".into(),
        };
        let file = key.verdict_file(dir);
        Accelerator {
            state: Mutex::new((Accel::Kvm, None)),
            forced: false,
            verdict: Some((key, file)),
        }
    }

    #[test]
    fn a_fault_switches_to_tcg_once_and_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let accel = probed(dir);
        let Fallback::Retry(first) = accel.kvm_faulted("KVM internal error. Suberror: 1") else {
            panic!("a probed accelerator falls back");
        };
        assert!(first.contains("retrying this cell on TCG"), "{first}");
        assert!(first.contains("remembered for this host"), "{first}");
        assert_eq!(accel.current(), Accel::Tcg);
        let Fallback::Retry(second) = accel.kvm_faulted("again") else {
            panic!()
        };
        assert!(second.contains("already switched"), "{second}");
        let (key, file) = accel.verdict.as_ref().unwrap();
        let verdict = HostVerdict::read(file).expect("the verdict was written");
        assert_eq!(verdict.reason, "KVM internal error. Suberror: 1");
        assert_eq!(verdict.kernel, key.kernel);
    }

    #[test]
    fn a_forced_kvm_does_not_fall_back() {
        let accel = Accelerator::fixed(Accel::Kvm);
        assert_eq!(accel.kvm_faulted("x"), Fallback::Forced);
        assert_eq!(accel.current(), Accel::Kvm);
    }
}

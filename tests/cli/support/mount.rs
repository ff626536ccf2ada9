//! A tmpfs the test mounts (as root) for a store or a cache of a given
//! size, unmounted when the guard drops, on every path out of the test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted at a directory while it lives.
pub struct Tmpfs {
    at: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    /// Mount a tmpfs of `size` (as `mount -o size=` takes it: `16m`) at
    /// `at`, which must be a directory.
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mount a tmpfs at {}: {st}", at.display());
        Tmpfs {
            at: at.to_owned(),
            mounted: true,
        }
    }

    /// Unmount it now (what an unmounted store looks like from then on).
    pub fn unmount(&mut self) {
        if std::mem::take(&mut self.mounted) {
            let st = Command::new("umount").arg(&self.at).status();
            assert!(
                st.as_ref().is_ok_and(|s| s.success()),
                "umount {}: {st:?}",
                self.at.display()
            );
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            // Lazily: a panicking test may still hold a file open there.
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

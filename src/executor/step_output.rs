use crate::steps::fetch::FetchedBase;
use crate::steps::snapshot::Snapshot;
use crate::targets::Revision;
use camino::Utf8PathBuf;

/// What a finished step hands to the steps that depend on it.
#[derive(Debug, Clone)]
pub enum StepOutput {
    Fetched(FetchedBase),
    Rendered {
        user_data: String,
        nonce: String,
    },
    Seeded {
        seed: Utf8PathBuf,
        nonce: String,
    },
    Booted {
        overlay: Utf8PathBuf,
        accel: crate::host::accel::Accel,
    },
    Snapshot(Snapshot),
    /// A new revision on the target with this index.
    Uploaded(usize, Box<Revision>),
    /// Every revision of the cell's current image, by target index.
    Recorded(Vec<(usize, Revision)>),
    Pruned(Vec<Revision>),
}

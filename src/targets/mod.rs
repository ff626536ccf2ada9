//! Targets: where images are kept (a local directory, a cloud's Glance).
//! With the backends, the only code that touches the outside world.

mod artifact;
mod directory;
mod image_file_error;
mod image_meta;
mod listing;
mod open;
mod open_error;
pub mod openstack;
mod revision_file_error;
mod store;

pub use artifact::{Artifact, ArtifactSource, GlanceLocation, StreamSource};
pub use directory::{DirectoryStore, MARKER};
pub use image_file_error::ImageFileError;
pub use image_meta::{ImageMeta, Revision};
pub use listing::{Damaged, Listing, human_size, newer, size_against};
pub use open::{open, open_all};
pub use open_error::OpenError;
pub use openstack::OpenstackStore;
pub use revision_file_error::RevisionFileError;
pub use store::{Doomed, Store, StoreNeed, doomed, prunable};

//! Upload targets. Only this module and `steps` touch the outside world.

mod directory;
mod image_meta;
mod open;
pub mod openstack;
mod store;

pub use directory::DirectoryStore;
pub use image_meta::{ImageMeta, Revision};
pub use open::open;
pub use openstack::OpenstackStore;
pub use store::{Store, prunable};

//! The OpenStack target: images in a cloud's Glance, through the shared
//! OpenStack client ([`crate::openstack`]).

mod created_image;
mod glance_image;
mod openstack_store;

pub use glance_image::ImageProperties;
pub use openstack_store::OpenstackStore;

//! The OpenStack target: images in Glance, credentials from clouds.yaml.

mod catalog;
mod cloud_config;
mod clouds_yaml;
mod config_env;
mod created_image;
mod glance_image;
mod hashing_reader;
mod http_error;
mod openstack_store;
mod session;
mod token;

pub use catalog::Catalog;
pub use cloud_config::CloudConfig;
pub use clouds_yaml::CloudsYaml;
pub use config_env::ConfigEnv;
pub use glance_image::GlanceImage;
pub use openstack_store::OpenstackStore;
pub use session::Session;
pub use token::Token;

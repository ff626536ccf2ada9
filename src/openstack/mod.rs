//! The OpenStack client every OpenStack part of pipeline shares: clouds.yaml
//! and `OS_*` variables, Keystone v3 authentication, the service catalog,
//! and a [`Session`] per cloud that calls its services (Glance for the
//! image target, Nova for the build backend).

mod catalog;
mod catalog_error;
mod cloud_config;
mod cloud_config_error;
mod clouds_file_error;
mod clouds_yaml;
mod config_env;
mod glance;
mod glance_image;
mod glance_image_error;
mod hashing_reader;
mod service;
mod session;
mod token;
mod token_error;

pub use catalog::Catalog;
pub use catalog_error::CatalogError;
pub use cloud_config::CloudConfig;
pub use cloud_config_error::CloudConfigError;
pub use clouds_file_error::CloudsFileError;
pub use clouds_yaml::CloudsYaml;
pub use config_env::ConfigEnv;
pub use glance::{Glance, Usage, encode};
pub use glance_image::GlanceImage;
pub use glance_image_error::GlanceImageError;
pub use hashing_reader::HashingReader;
pub use service::Service;
pub use session::Session;
pub use token::Token;
pub use token_error::TokenError;

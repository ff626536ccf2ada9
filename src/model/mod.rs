//! The validated model of a recipe. Pure: nothing here reads or writes a
//! file, touches the environment or the network, or runs a process; the
//! loader reads what it needs.

mod arch;
mod base;
mod build;
mod cell;
mod cell_filter;
mod channel;
mod channel_error;
mod filter_error;
mod ids;
mod image;
mod matrix;
mod recipe;
mod resource;
mod resource_error;
mod script_buffer;
mod secret_error;
mod secrets;
mod services;
mod target;
mod template;
mod template_scan;
mod tera_builtins;
mod validator;
mod verify;

pub use arch::Arch;
pub use base::{Base, Checksum};
pub use build::{Build, Compression};
pub use cell::{Cell, image_name};
pub use cell_filter::CellFilter;
pub use channel::check_channel;
pub use channel_error::ChannelError;
pub use filter_error::FilterError;
pub use ids::{BaseId, CellId, TargetId};
pub use image::Image;
pub use matrix::{Axis, Combination, DEFAULT_MAX_CELLS, MAX_CELLS_CEILING, Matrix};
pub use recipe::Recipe;
pub use resource::Resource;
pub use resource_error::ResourceError;
pub use script_buffer::ScriptBuffer;
pub use secret_error::SecretError;
pub use secrets::{SECRET_PREFIX, Secret, Secrets};
pub use services::Services;
pub use target::{Target, TargetKind, Visibility};
pub use template::{MAX_SCRIPT_BYTES, RENDER_MEMORY_LIMIT, RENDER_TIME_LIMIT, Template};
pub use validator::{RecipeInput, validate};
pub use verify::Verify;

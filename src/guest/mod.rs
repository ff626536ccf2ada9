//! The guest protocol, the same for every backend: the user-data wrapper
//! that runs the cell's script and reports `PIPELINE_RESULT <nonce> …`
//! lines, and how the host reads them and the console around them.

mod console;
mod guest_result;
mod user_data;

pub use console::console_tail;
pub use guest_result::{GuestResult, parse_result};
pub use user_data::{UserData, WRAPPER_VERSION, user_data};

/// Name of the virtio-serial port a guest reports its result on, when it
/// has one (local QEMU); the console gets a copy of every line.
pub const RESULT_PORT: &str = "org.pipeline.result";

/// A fresh nonce: the host only believes result lines that carry it.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

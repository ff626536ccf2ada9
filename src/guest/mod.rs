//! The guest protocol, the same for every backend: the user-data wrapper
//! that runs the cell's script and reports `PIPELINE_RESULT <nonce> …`
//! lines, and how the host reads them and the console around them.

mod console;
mod guest_output;
mod guest_result;
mod purpose;
mod report;
mod user_data;
mod verify_data;

pub use console::console_tail;
pub use guest_output::{GuestOutput, ReportFrom};
pub use guest_result::{CheckLine, GuestResult, parse_checks, parse_result};
pub use purpose::Purpose;
pub use report::Report;
pub use user_data::{UserData, WRAPPER_VERSION, user_data};
pub use verify_data::VerifyFacts;

/// Name of the virtio-serial port a guest reports its result on, when it
/// has one (local QEMU); the console gets a copy of every line.
pub const RESULT_PORT: &str = "org.pipeline.result";

/// A fresh nonce: the host only believes result lines that carry it.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Fails the test unless `shellcheck -s sh` accepts `text`.
#[cfg(test)]
fn assert_shellcheck_sh(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut sc = Command::new("shellcheck")
        .args(["-s", "sh", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("shellcheck is installed");
    sc.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = sc.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

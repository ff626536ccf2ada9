//! What pipeline prints: the one scrubber every message passes through,
//! diagnostics that quote a file, the items `init` reports.

mod check;
mod diagnostic;
mod scrubber;
mod scrubbing_writer;
mod text;

pub use check::{Check, CheckStatus};
pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use scrubber::{MASK, MIN_LEN, Scrubber, without_userinfo};
pub use scrubbing_writer::ScrubbingWriter;
pub use text::lowercase_first;

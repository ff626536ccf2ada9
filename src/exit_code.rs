//! Exit codes, distinct so that scripts and cron can tell what happened.

/// Everything asked for was done.
pub const OK: i32 = 0;
/// A build, upload or prune failed.
pub const FAILED: i32 = 1;
/// The recipe or the command line is invalid; nothing was attempted.
pub const INVALID: i32 = 2;
/// Another run of the same recipe holds the lock.
pub const LOCKED: i32 = 3;
/// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT).
pub const INTERRUPTED: i32 = 130;

//! Exit codes, distinct so that scripts and cron can tell what happened.

/// Everything asked for was done.
pub const OK: i32 = 0;
/// A build, upload or prune failed.
pub const FAILED: i32 = 1;
/// The recipe or the command line is invalid; nothing was attempted.
pub const INVALID: i32 = 2;
/// Another run of the same recipe holds the lock.
pub const LOCKED: i32 = 3;

/// What a shell reports for a process that `signal` ended: 130 for SIGINT,
/// 143 for SIGTERM, 141 for SIGPIPE.
pub fn of_signal(signal: i32) -> i32 {
    128 + signal
}

/// End the process by `signal`, as if it had never been caught, once the
/// clean-up is done: a shell then reports [`of_signal`], a shell script that
/// ran pipeline stops on Ctrl-C too, and systemd sees the stop it asked for
/// (what systemd.service(5) asks of programs that catch signals). What was
/// printed is flushed first. Returns only for a signal that signal-hook does
/// not know, with the code to exit with instead.
pub fn end_by(signal: i32) -> i32 {
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    of_signal(signal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_hook::consts::{SIGINT, SIGPIPE, SIGTERM};

    #[test]
    fn a_signal_is_128_plus_its_number() {
        assert_eq!(of_signal(SIGINT), 130);
        assert_eq!(of_signal(SIGTERM), 143);
        assert_eq!(of_signal(SIGPIPE), 141);
    }
}

//! What bounds a large transfer (an image up to or down from Glance, a
//! base image): not a deadline, since a big image on a slow link takes
//! hours, but progress. A transfer fails when less than [`MIN_BYTES`]
//! moved in a [`WINDOW`]; a connection where nothing moves at all fails
//! earlier, by the agent's per-read and per-write stall timeouts.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The span over which progress is judged.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Bytes that must move in each [`WINDOW`] (about 3.5 kB/s): a server that
/// trickles a byte every few seconds keeps no transfer alive.
pub const MIN_BYTES: u64 = 1 << 20;

/// A reader that fails with [`io::ErrorKind::TimedOut`] when the bytes
/// read through it in a window are too few. Judged when a read returns,
/// which a trickling peer makes happen often.
pub struct ProgressGuard<R> {
    inner: R,
    window: Duration,
    min_bytes: u64,
    started: Instant,
    moved: u64,
}

impl<R: Read> ProgressGuard<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, WINDOW, MIN_BYTES)
    }

    pub fn with_limits(inner: R, window: Duration, min_bytes: u64) -> Self {
        Self {
            inner,
            window,
            min_bytes,
            started: Instant::now(),
            moved: 0,
        }
    }
}

impl<R: Read> Read for ProgressGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Ok(0);
        }
        self.moved += n as u64;
        if self.started.elapsed() >= self.window {
            if self.moved < self.min_bytes {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the transfer stalled: {} bytes in {} s, less than the {} needed to go on",
                        self.moved,
                        self.window.as_secs(),
                        self.min_bytes
                    ),
                ));
            }
            self.started = Instant::now();
            self.moved = 0;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One byte per read, `pause` before each.
    struct Trickle {
        left: usize,
        pause: Duration,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 || buf.is_empty() {
                return Ok(0);
            }
            std::thread::sleep(self.pause);
            self.left -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_fails_and_a_steady_stream_does_not() {
        let trickle = Trickle {
            left: 1000,
            pause: Duration::from_millis(10),
        };
        let mut guard = ProgressGuard::with_limits(trickle, Duration::from_millis(100), 100);
        let err = io::copy(&mut guard, &mut io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.to_string().starts_with("the transfer stalled: "),
            "{err}"
        );

        let fast = Trickle {
            left: 300,
            pause: Duration::ZERO,
        };
        let mut guard = ProgressGuard::with_limits(fast, Duration::from_millis(100), 100);
        assert_eq!(io::copy(&mut guard, &mut io::sink()).unwrap(), 300);
        // A short transfer ends before any window is judged.
        let mut guard = ProgressGuard::with_limits(&b"abc"[..], Duration::from_secs(60), 100);
        assert_eq!(io::copy(&mut guard, &mut io::sink()).unwrap(), 3);
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// Set once when the run is interrupted; long-running step code polls it
/// between chunks of work and returns `StepError::cancelled()`. It keeps the
/// signal that interrupted the run, so that pipeline can end by it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicI32>);

/// Cancelled, but not by a signal.
const CANCELLED: i32 = -1;

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        let _ = self
            .0
            .compare_exchange(0, CANCELLED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Cancel because `signal` arrived; the first reason given is kept.
    pub fn interrupt(&self, signal: i32) {
        let _ = self
            .0
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// The signal that cancelled it, if one did.
    pub fn signal(&self) -> Option<i32> {
        Some(self.0.load(Ordering::SeqCst)).filter(|&s| s > 0)
    }

    /// `Err(cancelled)` once cancelled, for use with `?`.
    pub fn check(&self) -> crate::step::StepResult<()> {
        if self.is_cancelled() {
            Err(crate::step::StepError::cancelled())
        } else {
            Ok(())
        }
    }

    /// Sleep for `pause`, waking to return `Err(cancelled)` once cancelled.
    pub fn sleep(&self, pause: std::time::Duration) -> crate::step::StepResult<()> {
        let until = std::time::Instant::now() + pause;
        loop {
            self.check()?;
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50).min(left));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_reason() {
        let token = CancelToken::new();
        assert!(!token.is_cancelled());
        assert_eq!(token.signal(), None);
        token.interrupt(15);
        token.interrupt(2);
        token.cancel();
        assert!(token.clone().is_cancelled());
        assert_eq!(token.signal(), Some(15));

        let token = CancelToken::new();
        token.cancel();
        token.interrupt(2);
        assert!(token.is_cancelled());
        assert_eq!(token.signal(), None);
    }
}

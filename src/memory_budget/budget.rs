use super::CURRENT;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// How much memory a thread may hold beyond what it had, and whether it has
/// been told to stop. See the [module](super) documentation.
#[derive(Debug)]
pub struct Budget {
    limit: isize,
    /// Bytes allocated minus bytes freed by the thread since it started
    /// counting (what it frees of memory allocated before counts too, so
    /// this can go below zero).
    used: AtomicIsize,
    exceeded: AtomicBool,
    stopped: AtomicBool,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit: isize::try_from(limit).unwrap_or(isize::MAX),
            used: AtomicIsize::new(0),
            exceeded: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        })
    }

    /// Run `f` on this thread with its allocations counted against the
    /// budget.
    pub fn run<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        /// Puts the previous budget back, also when `f` panics, before the
        /// budget it holds can go.
        struct Restore(*const Budget, #[allow(dead_code)] Arc<Budget>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let held = Arc::clone(self);
        let previous = CURRENT.with(|c| c.replace(Arc::as_ptr(&held)));
        let _restore = Restore(previous, held);
        f()
    }

    /// Whether the thread was frozen for going past the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// Freeze the thread at its next allocation.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Count an allocation; whether the thread must freeze instead.
    pub(super) fn take(&self, bytes: isize) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return true;
        }
        let used = self
            .used
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if used > self.limit {
            self.exceeded.store(true, Ordering::Release);
            return true;
        }
        false
    }

    pub(super) fn give_back(&self, bytes: isize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

//! A memory budget for a thread that runs code pipeline cannot interrupt,
//! such as a Tera render (a template can double a string until memory runs
//! out). Rust aborts the whole process when an allocation fails, so a
//! budgeted thread that would go past its budget is frozen in place instead:
//! it sleeps forever, holding what it had, and whoever waits for it sees
//! [`Budget::exceeded`]. The same happens at its next allocation once
//! [`Budget::stop`] is called (its waiter gave up).
//!
//! This counts only where [`BudgetAlloc`] is the global allocator: the
//! `pipeline` binary and the library's unit tests. Elsewhere a budget is
//! never exceeded.

mod budget;
mod budget_alloc;

pub use budget::Budget;
pub use budget_alloc::BudgetAlloc;

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// The budget of this thread, if it has one. A constant initializer and
    /// no destructor: reading it never allocates, as the allocator needs.
    static CURRENT: Cell<*const Budget> = const { Cell::new(std::ptr::null()) };
}

/// Count `bytes` (negative when freed) against this thread's budget; never
/// returns if the thread is to stop.
fn charge(bytes: isize) {
    let budget = CURRENT.with(Cell::get);
    if budget.is_null() {
        return;
    }
    // SAFETY: `Budget::run` sets the pointer from an `Arc` it holds for as
    // long as the pointer is set.
    let budget = unsafe { &*budget };
    if bytes > 0 && budget.take(bytes) {
        freeze();
    }
    if bytes < 0 {
        budget.give_back(-bytes);
    }
}

/// Sleep forever: the allocation that would go past the budget is never made.
fn freeze() -> ! {
    loop {
        // A system call, no allocation.
        std::thread::sleep(Duration::from_secs(3600));
    }
}

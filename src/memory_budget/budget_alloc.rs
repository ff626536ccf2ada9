use super::charge;
use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, counting the allocations of budgeted threads.
pub struct BudgetAlloc;

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call goes to `System` with the same arguments; `charge`
// only counts, or never returns (so nothing is allocated), and allocates
// nothing itself.
unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(signed(layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(signed(layout.size()));
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        charge(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        charge(signed(new_size).saturating_sub(signed(layout.size())));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

// Counts the memory of template renders, so that one can be stopped before
// it takes all there is (see pipeline::memory_budget).
#[global_allocator]
static ALLOC: pipeline::memory_budget::BudgetAlloc = pipeline::memory_budget::BudgetAlloc;

fn main() {
    std::process::exit(pipeline::main());
}
